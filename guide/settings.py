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
    rasa_host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_port: int = 5055
    public_base_url: str = ""
    rasa_url: str = ""
    model_dir: Path = ROOT / "models"

    secret_key: str = Field("", description="signs cookies and sessions; generated under var/ when unset")
    log_level: str = "INFO"

    # routing thresholds (calibrated by `make eval`)
    route_accept: float = 0.55
    route_margin: float = 0.12
    route_reject: float = 0.40
    clarify_min_score: float = 0.2  # below this even the best candidate is a guess: do not offer it
    oos_intent: float = 0.7  # DIET's out_of_scope confidence that declines …
    oos_override_score: float = 0.3  # … unless a service scores at least this

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
