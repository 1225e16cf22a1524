# Generates <rule>/fail.json and <rule>/pass.json: pass is a clean spec
# (with the rule's fix applied where it differs), fail breaks one thing.
# Run: python3 gen.py   (from this directory). JSON is valid YAML.
import copy, json, os

def resp(code, extra=None):
    r = {"description": code}
    if extra: r.update(extra)
    return r

STD = {
    "400": resp("bad request"), "401": resp("unauthorized"), "403": resp("forbidden"),
    "429": resp("too many", {"headers": {"Retry-After": {"schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 3600}}}}),
    "500": resp("error"),
}
RL = {"RateLimit": {"schema": {"type": "string", "maxLength": 100}}}

def ok(schema):
    r = copy.deepcopy(STD)
    r["200"] = {"description": "ok", "headers": copy.deepcopy(RL), "content": {"application/json": {"schema": schema}}}
    return r

BASE = {
    "openapi": "3.1.0",
    "info": {"title": "fixture", "version": "1.0.0"},
    "servers": [{"url": "https://api.example.com/v1"}],
    "x-apiguard-cors": "none",
    "security": [{"bearer": []}],
    "paths": {
        "/items/{itemId}": {
            "get": {
                "operationId": "getItem",
                "x-apiguard-authz": {"request": "true"},
                "parameters": [{"name": "itemId", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}],
                "responses": ok({"$ref": "#/components/schemas/Item"}),
            }
        },
        "/items": {
            "post": {
                "operationId": "createItem",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ItemInput"}}}},
                "responses": ok({"$ref": "#/components/schemas/Item"}),
            },
        },
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {
            "Item": {"type": "object", "additionalProperties": False, "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string", "maxLength": 100},
                "count": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 100},
                "tags": {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 20}},
            }},
            "ItemInput": {"type": "object", "additionalProperties": False, "properties": {
                "name": {"type": "string", "maxLength": 100},
            }},
        },
    },
}

def op(d, path="/items/{itemId}", m="get"): return d["paths"][path][m]
def sch(d, n): return d["components"]["schemas"][n]

def add_op(d, path, m, o):
    d["paths"].setdefault(path, {})[m] = o
def simple_op(oid, **kw):
    o = {"operationId": oid, "responses": ok({"$ref": "#/components/schemas/Item"})}
    o.update(kw)
    return o

C = {}  # rule -> (fail mutation, pass mutation or None)
def rule(rid, fail, fix=None): C[rid] = (fail, fix)

def f(d): del d["components"]["securitySchemes"]; del d["security"]
rule("audit.no-security-schemes", f)
def f(d): del d["security"]; [o.__setitem__("security", [{"bearer": []}]) for p in d["paths"].values() for o in p.values()]
rule("audit.no-global-security", lambda d: d.pop("security"))
rule("audit.unprotected-write", lambda d: op(d, "/items", "post").__setitem__("security", []),
     lambda d: add_op(d, "/auth/login", "post", simple_op("login", security=[])))
rule("audit.unprotected-read", lambda d: op(d).__setitem__("security", []),
     lambda d: add_op(d, "/catalog", "get", simple_op("catalog", security=[], **{"x-apiguard-public": True})))
rule("audit.optional-security", lambda d: op(d).__setitem__("security", [{"bearer": []}, {}]))
rule("audit.undefined-security-scheme", lambda d: op(d).__setitem__("security", [{"oauth": []}]))
def schemefix(s): return lambda d: d["components"]["securitySchemes"].__setitem__("alt", s)
rule("audit.http-basic", schemefix({"type": "http", "scheme": "basic"}), schemefix({"type": "apiKey", "in": "header", "name": "X-API-Key"}))
rule("audit.http-digest", schemefix({"type": "http", "scheme": "digest"}))
rule("audit.apikey-in-query", schemefix({"type": "apiKey", "in": "query", "name": "api_key"}), schemefix({"type": "apiKey", "in": "header", "name": "X-API-Key"}))
rule("audit.bearer-format-missing", schemefix({"type": "http", "scheme": "bearer"}))
code = {"authorizationCode": {"authorizationUrl": "https://a.example.com/auth", "tokenUrl": "https://a.example.com/token", "scopes": {}}}
rule("audit.oauth2-implicit-flow", schemefix({"type": "oauth2", "flows": {"implicit": {"authorizationUrl": "https://a.example.com/auth", "scopes": {}}}}), schemefix({"type": "oauth2", "flows": code}))
rule("audit.oauth2-password-flow", schemefix({"type": "oauth2", "flows": {"password": {"tokenUrl": "https://a.example.com/token", "scopes": {}}}}), schemefix({"type": "oauth2", "flows": code}))
rule("audit.auth-url-insecure", schemefix({"type": "oauth2", "flows": {"authorizationCode": {"authorizationUrl": "http://a.example.com/auth", "tokenUrl": "https://a.example.com/token", "scopes": {}}}}), schemefix({"type": "oauth2", "flows": code}))
rule("audit.credentials-in-url", lambda d: op(d)["parameters"].append({"name": "access_token", "in": "query", "schema": {"type": "string", "maxLength": 100}}),
     lambda d: op(d)["parameters"].append({"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}}))
for c, rid in [("401", "audit.missing-401"), ("403", "audit.missing-403"), ("429", "audit.missing-429")]:
    rule(rid, (lambda c: lambda d: op(d)["responses"].pop(c))(c))
rule("audit.missing-500", lambda d: op(d)["responses"].pop("500"), lambda d: (op(d)["responses"].pop("500"), op(d)["responses"].__setitem__("default", resp("error"))))
rule("audit.missing-400", lambda d: op(d)["responses"].pop("400"), lambda d: (op(d)["responses"].pop("400"), op(d)["responses"].__setitem__("422", resp("invalid"))))
rule("audit.rate-limit-headers", lambda d: op(d)["responses"]["200"].pop("headers"))
rule("audit.retry-after-missing", lambda d: op(d)["responses"]["429"].pop("headers"))
def setprop(n, p, v): return lambda d: sch(d, n)["properties"].__setitem__(p, v)
rule("audit.string-unbounded", setprop("Item", "note", {"type": "string"}), setprop("Item", "note", {"type": "string", "enum": ["a", "b"]}))
rule("audit.array-unbounded", setprop("Item", "list", {"type": "array", "items": {"type": "string", "maxLength": 5}}))
rule("audit.integer-unbounded", setprop("Item", "n", {"type": "integer", "format": "int64", "minimum": 0}))
rule("audit.integer-format", setprop("Item", "n", {"type": "integer", "minimum": 0, "maximum": 9}))
rule("audit.additional-properties", lambda d: sch(d, "ItemInput").pop("additionalProperties"),
     lambda d: (sch(d, "ItemInput").pop("additionalProperties"), sch(d, "ItemInput").__setitem__("unevaluatedProperties", False)))
rule("audit.map-unbounded", setprop("Item", "meta", {"type": "object", "additionalProperties": {"type": "string", "maxLength": 9}}),
     setprop("Item", "meta", {"type": "object", "maxProperties": 20, "additionalProperties": {"type": "string", "maxLength": 9}}))
rule("audit.privileged-property-writable", setprop("ItemInput", "isAdmin", {"type": "boolean"}), setprop("ItemInput", "isAdmin", {"type": "boolean", "readOnly": True}))
rule("audit.secret-not-writeonly", setprop("ItemInput", "password", {"type": "string", "maxLength": 64}), setprop("ItemInput", "password", {"type": "string", "maxLength": 64, "writeOnly": True}))
rule("audit.sensitive-data-in-response", setprop("Item", "ssn", {"type": "string", "maxLength": 11}), setprop("ItemInput", "ssn", {"type": "string", "maxLength": 11}))
rule("audit.response-schema-missing", lambda d: op(d)["responses"]["200"]["content"]["application/json"].pop("schema"))
def numid(t): return lambda d: op(d)["parameters"][0].__setitem__("schema", t)
rule("audit.numeric-id", numid({"type": "integer", "format": "int64", "minimum": 1, "maximum": 1000000}))
rule("audit.object-authz-undeclared", lambda d: op(d).pop("x-apiguard-authz"), lambda d: (op(d).pop("x-apiguard-authz"), op(d).__setitem__("x-apiguard-roles", ["user"])))
rule("audit.admin-shared-scheme", lambda d: add_op(d, "/admin/users", "get", simple_op("adminListUsers")),
     lambda d: add_op(d, "/admin/users", "get", simple_op("adminListUsers", **{"x-apiguard-roles": ["admin"]})))
rule("audit.ssrf-url-input", setprop("ItemInput", "callbackUrl", {"type": "string", "format": "uri", "maxLength": 2000}),
     setprop("ItemInput", "callbackUrl", {"type": "string", "format": "uri", "maxLength": 2000, "pattern": "^https://hooks\\.example\\.com/"}))
rule("audit.http-server", lambda d: d["servers"].append({"url": "http://api.example.com"}), lambda d: d["servers"].append({"url": "http://localhost:8080"}))
rule("audit.server-variable-open", lambda d: d["servers"].append({"url": "https://{region}.example.com", "variables": {"region": {"default": "eu"}}}),
     lambda d: d["servers"].append({"url": "https://{region}.example.com", "variables": {"region": {"default": "eu", "enum": ["eu", "us"]}}}))
rule("audit.cors-undefined", lambda d: d.pop("x-apiguard-cors"),
     lambda d: (d.pop("x-apiguard-cors"), op(d)["responses"]["200"]["headers"].__setitem__("Access-Control-Allow-Origin", {"schema": {"type": "string", "maxLength": 100}})))
rule("audit.internal-exposure", lambda d: add_op(d, "/debug/vars", "get", simple_op("debugVars", **{"x-apiguard-authz": {"request": "true"}})),
     lambda d: add_op(d, "/latest/vars", "get", simple_op("latestVars")))
rule("audit.operation-id-missing", lambda d: op(d).pop("operationId"))
rule("audit.deprecated-without-sunset", lambda d: op(d).__setitem__("deprecated", True), lambda d: (op(d).__setitem__("deprecated", True), op(d).__setitem__("x-sunset", "2027-01-01")))
rule("audit.string-format-missing", setprop("Item", "email", {"type": "string", "maxLength": 254}), setprop("Item", "email", {"type": "string", "format": "email", "maxLength": 254}))
rule("audit.verbose-errors", lambda d: op(d)["responses"]["500"].__setitem__("content", {"application/json": {"schema": {"type": "object", "additionalProperties": False, "properties": {"stackTrace": {"type": "string", "maxLength": 9}}}}}),
     lambda d: op(d)["responses"]["500"].__setitem__("content", {"application/json": {"schema": {"type": "object", "additionalProperties": False, "properties": {"message": {"type": "string", "maxLength": 9}}}}}))
def flow(extra):
    def m(d):
        o = simple_op("createTransfer", requestBody=copy.deepcopy(op(d, "/items", "post")["requestBody"]))
        o["responses"].pop("429"); o.update(extra)
        add_op(d, "/transfers", "post", o)
    return m
rule("audit.business-flow-unlimited", flow({}), flow({"x-apiguard-flow": "transfers"}))
rule("audit.trace-method", lambda d: add_op(d, "/items", "trace", simple_op("traceItems")))
rule("audit.page-size-unbounded", lambda d: op(d)["parameters"].append({"name": "limit", "in": "query", "schema": {"type": "integer", "format": "int32", "minimum": 1}}),
     lambda d: op(d)["parameters"].append({"name": "limit", "in": "query", "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 100}}))

for i, (rid, (fail, fix)) in enumerate(sorted(C.items())):
    os.makedirs(rid, exist_ok=True)
    for name, mut in (("fail", fail), ("pass", fix)):
        d = copy.deepcopy(BASE)
        d["openapi"] = "3.0.3" if (i + (name == "pass")) % 2 else "3.1.0"
        d["info"]["title"] = rid + " " + name
        if mut: mut(d)
        with open(os.path.join(rid, name + ".json"), "w") as fh:
            json.dump(d, fh, indent=2)
            fh.write("\n")
print(len(C), "rules")
