"""Stand-ins for the model API of Rasa servers (``GET /status``, ``PUT /model``) that record each activation, so a
retrain's activation of *every* server can be checked over real HTTP without loading several 1.5 GB Rasa servers.

    python tests/editor/model_servers.py --port N [--refuse]

``GET /activations`` lists every model_file it was asked to load; ``--refuse`` answers PUT /model with HTTP 400
(as Rasa does for a path it cannot read).
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, List

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

app = FastAPI()
state: Dict[str, Any] = {"model": "models/current.tar.gz", "refuse": False}
activations: List[str] = []


@app.get("/status")
def status() -> Dict[str, Any]:
    return {"model_file": state["model"], "model_id": "stand-in"}


@app.put("/model")
async def load(request: Request) -> Response:
    body = await request.json()
    activations.append(str(body.get("model_file")))
    if state["refuse"]:
        return JSONResponse({"status": "failure", "message": "Model file not found"}, status_code=400)
    state["model"] = str(body.get("model_file"))
    return Response(status_code=204)


@app.get("/activations")
def seen() -> Dict[str, Any]:
    return {"activations": activations}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--refuse", action="store_true")
    args = parser.parse_args()
    state["refuse"] = args.refuse
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
