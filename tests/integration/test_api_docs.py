"""/docs works offline and /openapi.json says, for every /api/v2 operation, what it does, what it can answer
and what each field a user sets means."""

import re

from voxline.core import errors

METHODS = {"get", "put", "post", "patch", "delete"}
ERROR_CODES = {
    kind.code for kind in vars(errors).values() if isinstance(kind, type) and issubclass(kind, errors.ApiError)
}


async def _schema(client) -> dict:
    return (await client.get("http://testserver/openapi.json")).json()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        if path.startswith("/api/v2/"):
            for method, operation in item.items():
                if method in METHODS:
                    yield f"{method.upper()} {path}", operation


async def test_every_operation_has_a_description_an_example_and_its_error_codes(client):
    schema = await _schema(client)
    components = schema["components"]["schemas"]
    operations = list(_operations(schema))
    assert len(operations) > 30
    for name, operation in operations:
        assert operation.get("summary") and len(operation.get("description", "")) > 20, name
        failures = {status: r for status, r in operation["responses"].items() if status[0] in "45"}
        assert {"400", "401", "404", "429", "500"} <= set(failures), name
        for status, response in failures.items():
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
            listed = set(re.findall(r"`([A-Z_]+)`", response["description"]))
            assert listed and listed <= ERROR_CODES, (name, status, listed - ERROR_CODES)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body is not None:
            ref = body.get("$ref") or next(b["$ref"] for b in body["anyOf"] if "$ref" in b)
            assert components[ref.rsplit("/", 1)[1]].get("examples"), name
        for param in operation.get("parameters", []):
            if param["in"] == "path" and param["name"].endswith("_id"):
                assert "example" in param, (name, param["name"])


async def test_the_codes_an_operation_raises_are_listed_under_their_status(client):
    responses = dict(_operations(await _schema(client)))["POST /api/v2/calls/start"]["responses"]
    assert "`CONNECTION_ID_REQUIRED`" in responses["400"]["description"]
    assert "`IDEMPOTENCY_CONFLICT`" in responses["409"]["description"]
    assert "`CONCURRENCY_LIMIT`" in responses["429"]["description"]
    create_hook = dict(_operations(await _schema(client)))["POST /api/v2/config/webhooks"]["responses"]
    assert "`INVALID_WEBHOOK_URL`" in create_hook["400"]["description"]


def _request_models(schema: dict) -> set[str]:
    """Every model a request body reaches, following $refs."""
    components = schema["components"]["schemas"]
    todo = [
        ref
        for _, operation in _operations(schema)
        for ref in re.findall(
            r'"\$ref": "#/components/schemas/(\w+)"', str(operation.get("requestBody", "")).replace("'", '"')
        )
    ]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += re.findall(r"#/components/schemas/(\w+)", str(components[name]))
    return seen


async def test_every_field_a_user_sets_has_a_description(client):
    schema = await _schema(client)
    models = _request_models(schema)
    assert {"AgentCreate", "StartCallBody", "WebhookCreate", "ExtractionKey"} <= models
    for name in models:
        for field, prop in schema["components"]["schemas"][name].get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field}"


async def test_docs_page_loads_only_assets_this_server_serves(client):
    page = await client.get("http://testserver/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page.text), page.text
    assert not re.search(r"https?://", page.text.replace("window.location.origin", ""))
    assets = re.findall(r"""(?:src|href)="(/[^"]+)\"""", page.text)
    assert len(assets) >= 2
    for asset in assets:
        r = await client.get(f"http://testserver{asset}")
        assert r.status_code == 200 and len(r.content) > 100, asset
