"""One settings object, read from the environment, with defaults that run on one machine.

Every process (gateway, Rasa, action server, CLI) reads the same names, so a
deployment configures the whole stack with one set of environment variables.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseSettings, Field

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Environment variable names are the field names in upper case (``DATABASE_URL`` …)."""

    data_dir: Path = ROOT / "knowledge" / "data"
    var_dir: Path = ROOT / "var"
    database_url: str = ""
    redis_url: str = ""
    embedded_redis_port: int = 6380
    city_profile: Path | None = None

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_threads: int = Field(32, ge=4, le=256, description="asyncio worker threads for the blocking Redis book-keeping of each "
                                 "resident turn (asyncio's default is 6 on two cores: under a burst every turn queued for one); "
                                 "the handoff service's calls use Starlette's own pool of 40")
    rasa_host: str = "127.0.0.1"
    rasa_port: int = 5005
    rasa_workers: int = Field(1, ge=1, le=16, description="Rasa server processes behind one port (Rasa's SANIC_WORKERS; "
                              "each loads the model, ~1.9 GB; safe because the lock store is Redis)")
    action_port: int = 5055
    worker_nice: int = Field(5, ge=0, le=19, description="nice value of Rasa and the action server: on a saturated machine "
                             "the gateway (WeChat acknowledgements, live agent views) gets the CPU first")
    public_base_url: str = ""
    rasa_url: str = ""
    model_dir: Path = ROOT / "models"
    rasa_servers: str = ""  # comma-separated base URLs of every Rasa server (a retrain activates each); default RASA_URL
    knowledge_check_s: float = 30.0
    display_timezone: str = "Asia/Shanghai"  # dates staff pick and read (editors' dashboard); stored times are UTC
    editor_max_import_mb: float = 10.0  # a larger import file is refused while it is read
    editor_max_unpacked_mb: float = 100.0  # an .xlsx whose parts unpack to more is refused before openpyxl opens it  # every process compares its knowledge base with the database this often

    secret_key: str = Field("", description="signs cookies and sessions; generated under var/ when unset")
    log_level: str = "INFO"
    webchat_rate_limit: int = 20  # messages per 10 s per resident before a "slow down" note
    max_upload_mb: int = 20  # larger web uploads are refused while reading, before anything is stored
    demo_staff_password: str = Field("", description="when set and no staff exist, the gateway creates the demo team with it")

    # routing thresholds (calibrated by `make eval`)
    route_accept: float = 0.55
    route_margin: float = 0.12
    route_reject: float = 0.40
    clarify_min_score: float = 0.2  # below this even the best candidate is a guess: do not offer it
    oos_intent: float = 0.7  # DIET's out_of_scope confidence that declines …
    oos_override_score: float = 0.3  # … unless a service scores at least this

    # pre-review (prereview/): uploads, limits and the correction notice
    prereview_max_upload_mb: float = 20.0  # larger uploads are refused before they are read or decoded
    prereview_max_pixels: int = 40_000_000  # an image header promising more is a decompression bomb
    prereview_max_pdf_pages: int = 30  # a PDF with more pages is refused as one material
    prereview_render_pages: int = 8  # pages of one PDF rendered and read (the rest are only counted)
    prereview_ocr_max_side: int = 1280  # images are downscaled to this long side before OCR
    prereview_decode_max_side: int = 1600  # big photos are decoded (JPEG: by libjpeg itself) at most this long a side
    prereview_max_files: int = 20  # files in one pre-review (chat session or one API request)
    prereview_purge_interval_s: int = 3600  # the gateway purges expired uploads and evidence at most this often
    prereview_upload_retention_days: int = 30  # uploads and cached readings older than this are purged
    prereview_supplement_days: int = 5  # working days to supplement, unless the service's 容缺 says otherwise

    # human handoff (channels/handoff/) and 好差评 (channels/ratings.py)
    handoff_working_days: str = "1,2,3,4,5"  # ISO weekdays the online desk is staffed (1 = Monday)
    handoff_working_hours: str = "09:00-12:00,13:00-17:30"  # local times, comma-separated ranges
    handoff_timezone: str = "Asia/Shanghai"
    handoff_agent_capacity: int = 5  # conversations one agent serves at once
    handoff_queue_timeout_s: int = 600  # queued this long: offer a message that becomes a 12345 work order
    handoff_resident_idle_reminder_s: int = 120  # resident silent after the agent wrote: remind …
    handoff_resident_idle_close_s: int = 120  # … then end the conversation this long after the reminder
    handoff_agent_idle_reminder_s: int = 120  # agent silent after the resident wrote: remind the agent …
    handoff_agent_idle_requeue_s: int = 120  # … then put the conversation back in the queue (0 = never)
    handoff_message_wait_s: int = 600  # an offered message not written within this returns to the bot
    handoff_after_fallbacks: int = 2  # bot misses in a row before a person is called
    handoff_complaint_words: str = "投诉,举报,态度差,不作为,乱收费,推诿,刁难"  # any of these in a message calls a person
    handoff_avg_handle_s: int = 240  # expected handling time before real figures exist (wait estimates)
    handoff_reentry_guard_s: int = 600  # after a close, automatic triggers only offer a person, never queue
    handoff_handback_guard_turns: int = 5  # after a hand back, resident turns before automatic triggers may queue again
    handoff_wechat_position_every_s: int = 600  # WeChat residents: queue places beyond the first 3 at most this often (客服 quota)
    handoff_wechat_quota_reserve: int = 2  # … and never when this few 客服 messages are left (kept for the agent)
    handoff_presence_ttl_s: int = 45  # an agent whose workbench stopped listening this long counts as offline
    handoff_tick_s: float = 2.0  # timeouts and assignment pass
    handoff_auto_assign: bool = True  # assign queued conversations to online agents (else agents claim)
    handoff_canned_replies: str = ""  # "|"-separated canned replies; empty = the built-in set
    workorder_reply_days: int = 5  # days from 受理 to 答复 for a 12345 work order
    rating_rectification_days: int = 7  # deadline of a rectification after a bad rating
    rating_notify_attempts: int = 6  # a rectification outcome the resident's channel refused is retried this often …
    rating_notify_backoff_s: int = 60  # … first after this long, doubling each time
    turn_lease_s: float = 30  # a resident turn being processed is retried by a resend only after this long without a heartbeat
    turn_keep_s: int = 3600  # a processed turn's id is remembered this long (resends are dropped)

    # WeChat official account (channels/wechat/); an empty WECHAT_TOKEN leaves the endpoint switched off
    wechat_token: str = ""
    wechat_appid: str = ""
    wechat_secret: str = ""
    wechat_aes_key: str = Field("", description="EncodingAESKey (43 characters) for compatible and safe modes")
    wechat_api_base: str = "https://api.weixin.qq.com"  # tests and demo mode point it at channels.wechat.fake_server
    wechat_reply_budget: float = 4.0  # seconds to wait for a passive reply before answering `success` (WeChat waits 5)
    wechat_busy_turns: int = 8  # with more messages than this in flight in one gateway …
    wechat_busy_budget: float = 0.3  # … wait only this long, then `success` and a 客服 message (keeps acks fast in a burst)
    wechat_max_body_kb: int = 64  # WeChat's XML is a few KB; larger bodies are refused before parsing
    wechat_timestamp_skew: int = 300  # seconds; an older (replayed) or future timestamp is refused
    wechat_simulator: bool = False  # serve /wechat/simulator — only while WECHAT_API_BASE is a loopback fake server …
    wechat_simulator_real_api: bool = False  # … unless this explicitly allows another API base (a staging account)
    wechat_simulator_target: str = ""  # where the simulator posts; default this gateway's own GATEWAY_HOST:GATEWAY_PORT

    class Config:
        env_file = None
        case_sensitive = False

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.var_dir / 'guide.db'}"

    @property
    def profile_path(self) -> Path:
        return self.city_profile or self.data_dir / "city.yml"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.gateway_host}:{self.gateway_port}").rstrip("/")

    @property
    def rasa_base(self) -> str:
        return (self.rasa_url or f"http://{self.rasa_host}:{self.rasa_port}").rstrip("/")

    def guide_url(self, service_id: str) -> str:
        return f"{self.base_url}/guide/{service_id}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # every field has a default; values come from the environment


def secret_key() -> str:
    """SECRET_KEY from the environment; otherwise one generated once under var/ (shared by local processes).

    Several gateways behind a load balancer must share it: set SECRET_KEY in production.
    """
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key
    import secrets

    path = settings.var_dir / "secret_key"
    if not path.exists():
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()
