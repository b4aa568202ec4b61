"""The prebuilt action-response validator accepts and refuses exactly what Rasa's own check does."""

import pytest
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction

from nlu import rasa_speedups

GOOD = {"events": [{"event": "slot", "name": "service", "value": "T003"}], "responses": [{"text": "好的"}]}
BAD = {"events": [{"event": "slot", "name": 3}], "responses": "not a list"}


def test_same_verdicts_as_rasa_and_the_same_hint() -> None:
    rasa_speedups.apply()
    action = RemoteAction.__new__(RemoteAction)
    schema = RemoteAction.action_response_format_spec()
    validate(GOOD, schema)
    assert action._validate_action_result(GOOD) is True
    with pytest.raises(ValidationError):
        validate(BAD, schema)
    with pytest.raises(ValidationError) as caught:
        action._validate_action_result(BAD)
    assert "Failed to validate Action server response" in caught.value.message
    assert RemoteAction._validate_action_result is rasa_speedups._validate_action_result


async def _counting_server():  # type: ignore[no-untyped-def]
    """A real HTTP server on loopback that counts the TCP connections it accepts."""
    from aiohttp import web

    seen = {"connections": 0, "requests": [], "peers": set()}

    async def webhook(request: web.Request) -> web.Response:
        seen["requests"].append((request.headers.get("Content-Type"), request.query.get("token"), await request.json()))
        seen["peers"].add(request.transport.get_extra_info("peername"))
        if request.query.get("fail"):
            return web.Response(status=503, text="busy")
        return web.json_response({"events": [], "responses": [{"text": "好的"}]})

    async def plain(_request: web.Request) -> web.Response:
        return web.Response(text="not json")

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    app.router.add_post("/plain", plain)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}", seen


async def test_action_calls_reuse_one_connection_and_keep_rasas_behaviour() -> None:
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    rasa_speedups.apply()
    runner, base, seen = await _counting_server()
    try:
        endpoint = EndpointConfig(url=f"{base}/webhook", token="s3cret")
        for i in range(5):
            result = await endpoint.request(json={"next_action": f"action_{i}"}, method="post")
            assert result == {"events": [], "responses": [{"text": "好的"}]}
        assert len(seen["peers"]) == 1  # five calls, one TCP connection
        assert [r[2]["next_action"] for r in seen["requests"]] == [f"action_{i}" for i in range(5)]
        assert all(r[0] == "application/json" and r[1] == "s3cret" for r in seen["requests"])
        with pytest.raises(ClientResponseError) as caught:
            await endpoint.request(json={}, method="post", params={"fail": "1"})
        assert caught.value.status == 503
        assert await EndpointConfig(url=f"{base}/plain").request(json={}, method="post") is None
    finally:
        await rasa_speedups.close_sessions()
        await runner.cleanup()
