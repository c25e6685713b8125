#!/usr/bin/python3
"""Checks of the container files, run by ctest as containers_compose_config.

  check_containers.py SOURCE_DIR

No Docker engine is needed (none runs in CI): docker-compose.yml must pass
`docker-compose -f docker-compose.yml config -q` (Debian's docker-compose
1.29.2, from scripts/install-deps) and, read back from `config`, fit warren:
every topology queue has a worker service, every dead-letter queue a
deadletter worker, workers can be scaled (no container_name, no published
port), the API and workers have health checks, the topology is applied by a
one-shot service, and every WARREN_* variable is a key of config/keys.c.
The Dockerfile's runtime stage (its last FROM) must switch to a non-root
USER. Prints one line per problem and exits 1 if there was any.
"""
import os
import re
import subprocess
import sys

import yaml

problems = []


def problem(text):
    problems.append(text)
    print("containers: " + text)


def compose_config(source):
    """The compose file as docker-compose resolves it (anchors merged)."""
    command = ["docker-compose", "-f", "docker-compose.yml"]
    try:
        subprocess.run(command + ["config", "-q"], cwd=source, check=True)
        out = subprocess.run(command + ["config"], cwd=source, check=True,
                             capture_output=True, text=True).stdout
    except FileNotFoundError:
        problem("docker-compose is not installed (scripts/install-deps installs it)")
        return None
    except subprocess.CalledProcessError as error:
        problem("docker-compose config failed (exit %d)" % error.returncode)
        return None
    return yaml.safe_load(out)


def config_env_names(source):
    """WARREN_* names of config/keys.c's keys (broker.url -> WARREN_BROKER_URL)."""
    with open(os.path.join(source, "config/keys.c")) as f:
        text = f.read()
    names = set(re.findall(r'\{"([a-z_]+\.[a-z_]+)"', text))
    # SERVICE_DB(key, service) builds "database." service "_url"
    names |= {"database.%s_url" % s for s in re.findall(r'SERVICE_DB\([A-Z_]+, "([a-z]+)"\)', text)}
    return {"WARREN_" + n.replace(".", "_").upper() for n in names}


def topology_queues(source):
    with open(os.path.join(source, "topology/topology.yaml")) as f:
        return yaml.safe_load(f)["queues"]


def command_of(service):
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def check_workers(services, queues):
    commands = {name: command_of(s) for name, s in services.items()}
    for queue in queues:
        want = ["warren-worker", "--service", queue["service"]]
        if queue["name"] != queue["service"]:
            want += ["--queue", queue["name"]]
        if want not in commands.values():
            problem("no service runs %s" % " ".join(want))
        dead = ["warren-worker", "--service", "deadletter", "--queue", queue["name"] + ".dead"]
        if dead not in commands.values():
            problem("no service runs %s" % " ".join(dead))
    for name, command in commands.items():
        if command[:1] != ["warren-worker"]:
            continue
        service = services[name]
        for key in ("container_name", "ports"):
            if key in service:
                problem("%s has %s: it could not be scaled with --scale" % (name, key))
        if "healthcheck" not in service:
            problem("%s has no healthcheck" % name)


def check_services(services, env_names):
    api = [s for s in services.values() if command_of(s)[:1] == ["warren-api"]]
    if len(api) != 1 or "healthcheck" not in api[0]:
        problem("one warren-api service with a healthcheck expected")
    elif "/readyz" not in " ".join(api[0]["healthcheck"].get("test", [])):
        problem("the API's healthcheck should ask /readyz")
    apply = [n for n, s in services.items()
             if command_of(s)[:3] == ["warrenctl", "topology", "apply"]]
    if len(apply) != 1 or services[apply[0]].get("restart") not in ("no", None):
        problem("one one-shot service (restart: \"no\") running warrenctl topology apply expected")
    for name, service in services.items():
        for variable in (service.get("environment") or {}):
            if variable.startswith("WARREN_") and variable not in env_names:
                problem("%s: %s is not a configuration key (config/keys.c)" % (name, variable))


def check_dockerfile(source):
    with open(os.path.join(source, "Dockerfile")) as f:
        lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    starts = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    if len(starts) < 2:
        problem("Dockerfile: a multi-stage build (build and runtime stages) expected")
        return
    runtime = lines[starts[-1]:]
    if "slim" not in runtime[0]:
        problem("Dockerfile: the runtime stage should start from a slim image: " + runtime[0])
    users = [line.split(None, 1)[1] for line in runtime if line.upper().startswith("USER ")]
    if not users:
        problem("Dockerfile: the runtime stage has no USER (it would run as root)")
    elif users[-1].split(":")[0] in ("root", "0"):
        problem("Dockerfile: the runtime stage runs as " + users[-1])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_containers.py SOURCE_DIR")
    source = sys.argv[1]
    check_dockerfile(source)
    config = compose_config(source)
    if config is not None:
        services = config.get("services", {})
        check_workers(services, topology_queues(source))
        check_services(services, config_env_names(source))
    if not problems:
        print("containers: ok (docker-compose.yml valid, %d services; Dockerfile runs as non-root)"
              % len(config.get("services", {})))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
