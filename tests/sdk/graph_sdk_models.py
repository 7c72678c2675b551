"""Run inside the Graph beta SDK venv (``.venv-graph-sdk``): what Microsoft's generated models make
of JSON, and what Microsoft's client makes of the emulator over a socket.

Reads one JSON request from stdin and writes one JSON answer to stdout::

    {"parse": [{"model": NAME, "json": {...}}],      -> "parsed": [{"fields", "additional",
                                                                     "serialized"}]
     "build": [{"model": NAME, "fields": {...}}],    -> "built": [serialized JSON]
     "client": {"graph", "ca", "token", "keySet", "pkcs12": {"key", "password"},
                "secret": {"use", "k", "nbf", "exp"}}}  -> "client": {call: JSON or error}

``fields`` are the model's own attributes (snake_case, enums as their values); ``additional``
is what the model did not know (``additional_data``); ``serialized`` is the model written back
with kiota's JSON writer. Not imported by the test suite: the SDK lives only in its venv.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import importlib
import json
import ssl
import sys
from typing import Any

MODELS = {
    "trustFrameworkKeySet": "msgraph_beta.generated.models.trust_framework_key_set",
    "trustFrameworkKey": "msgraph_beta.generated.models.trust_framework_key",
    "trustFrameworkKeySetCollectionResponse": (
        "msgraph_beta.generated.models.trust_framework_key_set_collection_response"
    ),
    "uploadPkcs12PostRequestBody": (
        "msgraph_beta.generated.trust_framework.key_sets.item.upload_pkcs12."
        "upload_pkcs12_post_request_body"
    ),
    "uploadSecretPostRequestBody": (
        "msgraph_beta.generated.trust_framework.key_sets.item.upload_secret."
        "upload_secret_post_request_body"
    ),
    "oDataError": "msgraph_beta.generated.models.o_data_errors.o_data_error",
}


def model_class(name: str) -> Any:
    """The generated class for ``name`` (its module's class of the same name, capitalised)."""
    module = importlib.import_module(MODELS[name])
    wanted = name[0].upper() + name[1:]
    for attribute in dir(module):
        if attribute.lower() == wanted.lower():
            return getattr(module, attribute)
    raise KeyError(name)


def plain(value: Any) -> Any:
    """A model's value as JSON: nested models as their fields, enums as their values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(item) for item in value]
    if hasattr(value, "get_field_deserializers"):
        return fields(value)
    return value


def fields(model: Any) -> dict[str, Any]:
    """The model's known attributes that are set (``additional_data`` and the store aside)."""
    names = [
        name
        for name in vars(type(model)).get("__dataclass_fields__", {})
        if name not in ("backing_store", "additional_data")
    ]
    result = {name: plain(getattr(model, name)) for name in names}
    return {name: value for name, value in result.items() if value is not None}


def serialize(model: Any) -> Any:
    """The model written back by kiota's JSON writer."""
    from kiota_serialization_json.json_serialization_writer_factory import (
        JsonSerializationWriterFactory,
    )

    writer = JsonSerializationWriterFactory().get_serialization_writer("application/json")
    writer.write_object_value(None, model)
    return json.loads(writer.get_serialized_content())


def parse(name: str, document: Any) -> dict[str, Any]:
    """Parse ``document`` into the generated model ``name`` with kiota's JsonParseNodeFactory."""
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory

    node = JsonParseNodeFactory().get_root_parse_node(
        "application/json", json.dumps(document).encode()
    )
    model = node.get_object_value(model_class(name))
    return {
        "fields": fields(model),
        "additional": plain(model.additional_data),
        "serialized": serialize(model),
    }


def build(name: str, values: dict[str, Any]) -> Any:
    """Build the generated model ``name`` from its attributes, as a client would, and write it."""
    return serialize(model_class(name)(**values))


async def client_calls(spec: dict[str, Any]) -> dict[str, Any]:
    """Microsoft's GraphServiceClient against the emulator: every key-set call rotator makes."""
    import httpx
    from kiota_abstractions.authentication import (
        AccessTokenProvider,
        AllowedHostsValidator,
        BaseBearerTokenAuthenticationProvider,
    )
    from msgraph_beta import GraphRequestAdapter, GraphServiceClient
    from msgraph_beta.generated.models.o_data_errors.o_data_error import ODataError

    class StaticToken(AccessTokenProvider):
        async def get_authorization_token(self, uri: str, additional: Any = None) -> str:
            return str(spec["token"])

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return AllowedHostsValidator([])

    context = ssl.create_default_context(cafile=spec["ca"])
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(verify=context, timeout=10) as http:
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken()), http)
        adapter.base_url = f"{spec['graph']}/beta"
        graph = GraphServiceClient(request_adapter=adapter)
        key_set = graph.trust_framework.key_sets.by_trust_framework_key_set_id(spec["keySet"])
        pkcs12_body = model_class("uploadPkcs12PostRequestBody")(**spec["pkcs12"])
        secret_body = model_class("uploadSecretPostRequestBody")(**spec["secret"])
        calls = {
            "list": graph.trust_framework.key_sets.get,
            "uploadPkcs12": lambda: key_set.upload_pkcs12.post(pkcs12_body),
            "get": key_set.get,
            "getActiveKey": key_set.get_active_key.get,
            "uploadSecret": lambda: key_set.upload_secret.post(secret_body),
            "missing": graph.trust_framework.key_sets.by_trust_framework_key_set_id(
                "B2C_1A_Missing"
            ).get,
        }
        for call, run in calls.items():
            try:
                results[call] = {"fields": fields(await run())}
            except ODataError as exc:
                error = exc.error
                results[call] = {
                    "status": exc.response_status_code,
                    "code": error.code if error else None,
                    "message": error.message if error else None,
                }
    return results


def main() -> int:
    """Answer the request on stdin."""
    request = json.load(sys.stdin)
    answer: dict[str, Any] = {
        "parsed": [parse(item["model"], item["json"]) for item in request.get("parse", [])],
        "built": [build(item["model"], item["fields"]) for item in request.get("build", [])],
    }
    if "client" in request:
        answer["client"] = asyncio.run(client_calls(request["client"]))
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
