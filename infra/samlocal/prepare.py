"""Prepare `sam local invoke` for the local stack (run by infra/sam-local.sh).

Reads the stack description that provisioning wrote (out/stack/stack.json:
every resource's physical name and each function's resolved environment) and
the template that `sam build` wrote, and writes:

  --env-vars FILE      SAM's --env-vars JSON: {"<LogicalId>": {VAR: value}}, each
                       function's resolved environment plus AWS_ENDPOINT_URL and
                       AWS_ENDPOINT_URL_SESV2, with the emulators' address
                       (127.0.0.1) replaced by --endpoint-host, the address the
                       function's container reaches them at.
  --out-template FILE  the built template with those endpoint variables declared
                       (empty) on every function. `sam local invoke` passes a
                       function only the variables its template declares, so
                       --env-vars alone cannot add AWS_ENDPOINT_URL; the source
                       template.yaml is left alone (in AWS the variables do not
                       exist, and the SDK uses the real endpoints).

Only the endpoints the function calls are rewritten. Link bases (PUBLIC_BASE_URL,
ARCHIVE_BASE_URL) stay as provisioned: they end up in mails a person opens on
this machine, not in requests from the container.

It runs with the Python of the tools venv (it uses SAM's own YAML helper).
"""

import argparse
import json
import sys
from urllib.parse import urlsplit, urlunsplit

from samcli.yamlhelper import yaml_dump, yaml_parse

# The SDK reads these (DESIGN.md: endpoints come only from the standard variables).
ENDPOINT_VARS = {"AWS_ENDPOINT_URL": "aws", "AWS_ENDPOINT_URL_SESV2": "sesv2"}


def rehost(url, host):
    """rehost("http://127.0.0.1:5000", "172.17.0.1") == "http://172.17.0.1:5000"."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError(f"endpoint {url!r} has no host:port")
    netloc = f"[{host}]:{parts.port}" if ":" in host else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def env_vars(stack, endpoint_host):
    out = {}
    for fn in stack["functions"]:
        env = {k: str(v) for k, v in (fn.get("environment") or {}).items()}
        for var, key in ENDPOINT_VARS.items():
            env[var] = rehost(stack["endpoints"][key], endpoint_host)
        out[fn["logicalId"]] = env
    return out


def declare_endpoints(template):
    """Adds the endpoint variables (empty) to every function of a built template."""
    names = []
    for logical_id, res in (template.get("Resources") or {}).items():
        if res.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        props = res.setdefault("Properties", {})
        env = props.get("Environment")
        if not isinstance(env, dict):
            env = props["Environment"] = {}
        variables = env.get("Variables")
        if not isinstance(variables, dict):
            variables = env["Variables"] = {}
        for var in ENDPOINT_VARS:
            variables.setdefault(var, "")
        names.append(logical_id)
    return names


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stack", required=True, help="stack.json written by provisioning")
    p.add_argument("--template", required=True, help="template.yaml written by sam build")
    p.add_argument("--out-template", required=True)
    p.add_argument("--env-vars", required=True)
    p.add_argument("--endpoint-host", required=True, help="address the container reaches the emulators at")
    a = p.parse_args(argv)

    with open(a.stack, encoding="utf-8") as f:
        stack = json.load(f)
    with open(a.template, encoding="utf-8") as f:
        template = yaml_parse(f.read())

    functions = declare_endpoints(template)
    if not functions:
        sys.exit(f"prepare: {a.template} declares no function")
    env = env_vars(stack, a.endpoint_host)
    missing = sorted(set(functions) - set(env))
    if missing:
        sys.exit(f"prepare: {a.stack} has no environment for {', '.join(missing)}: provision the stack again")

    with open(a.out_template, "w", encoding="utf-8") as f:
        f.write(yaml_dump(template))
    with open(a.env_vars, "w", encoding="utf-8") as f:
        json.dump(env, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
