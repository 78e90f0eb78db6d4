"""Deployment files checked without Docker or a cluster: hadolint on the Dockerfile, the Kubernetes manifests
against the Kubernetes schemas (offline, from kubernetes-validate), and one set of ports, config keys and install
script across the Dockerfile, the manifests, the docs (README, docs/operations.md) and the scripts."""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import write_config  # noqa: E402 - after the sys.path set-up above

K8S = ROOT / "deploy" / "k8s"
PORTS = {"http": 8080, "management": 8081, "metrics": 8082, "grpc": 7070, "grpc_management": 7071}
HADOLINT = Path(sys.executable).with_name("hadolint")


def dockerfile_instructions(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, args = current.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            current = ""
    return instructions


def instruction(name: str) -> list[str]:
    return [args for keyword, args in dockerfile_instructions() if keyword == name]


def manifests() -> dict[str, list[dict]]:
    return {p.name: [d for d in yaml.safe_load_all(p.read_text()) if d] for p in sorted(K8S.glob("*.yaml"))
            if p.name != "kustomization.yaml"}


def resource(kind: str, name: str = "convlens") -> dict:
    found = [d for docs in manifests().values() for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def container() -> dict:
    return resource("Deployment")["spec"]["template"]["spec"]["containers"][0]


def env_vars_read_by_write_config() -> set[str]:
    return set(re.findall(r'env\("(CONVLENS_[A-Z_]+)"', (ROOT / "scripts" / "write_config.py").read_text()))


# The page each section the tests read lives on (the README is the front door; operations moved to docs/).
SECTION_PAGES = {"Quick start": "README.md", "Deployment": "docs/operations.md", "Scaling out": "docs/operations.md"}


def readme_section(title: str) -> str:
    page = SECTION_PAGES[title]
    text = (ROOT / page).read_text()
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"{page} has no '## {title}' section"
    return match.group(1)


# --- Dockerfile ---------------------------------------------------------------------------------------------------

def run_hadolint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(HADOLINT), "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_hadolint_passes_on_the_dockerfile():
    result = run_hadolint(ROOT / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_live_and_every_ignore_is_justified(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu:latest\nRUN cd /tmp && pip install requests\n")
    result = run_hadolint(bad)
    assert result.returncode != 0 and "DL3007" in result.stdout and "DL3003" in result.stdout
    config_lines = (ROOT / ".hadolint.yaml").read_text().splitlines()
    ignored = [i for i, line in enumerate(config_lines) if re.match(r"\s+- DL\d+", line)]
    assert ignored, "no ignores: then drop .hadolint.yaml's ignored list"
    for i in ignored:  # each ignore is preceded by a comment saying why
        assert config_lines[i - 1].strip().startswith("#"), config_lines[i]


def test_dockerfile_installs_through_the_install_script_and_builds_the_model_store():
    runs = instruction("RUN")
    install_runs = [r for r in runs if "./scripts/install.sh" in r]
    assert len(install_runs) == 2 and "CONVLENS_SKIP_MODELS=1" in install_runs[0]
    assert "CONVLENS_SKIP_MODELS" not in install_runs[1] and "model_store/*.mar" in install_runs[1]
    assert not any(re.search(r"\bpip3? install\b", r) for r in runs), "dependencies bypass scripts/install.sh"
    assert "scripts/build_token_plugin.py" in install_runs[1]
    # the first layer gets exactly what install.sh hashes for its stamp
    install = (ROOT / "scripts" / "install.sh").read_text()
    assert "cat requirements/*.txt client/pyproject.toml" in install
    assert {"requirements/ requirements/", "client/ client/", "scripts/install.sh scripts/install.sh"} <= set(
        instruction("COPY"))
    # the Makefile's install (what `make serve` / `make test` run) is the same script
    assert re.search(r"^install:\n\t\./scripts/install\.sh$", (ROOT / "Makefile").read_text(), re.M)


def test_dockerfile_runtime_contract():
    arg_defaults = dict(a.split("=", 1) for a in instruction("ARG") if "=" in a)
    base = arg_defaults["BASE_IMAGE"]
    assert instruction("FROM") == ["${BASE_IMAGE}"]
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.\d\d", base), base
    assert arg_defaults["PREFETCH_VGG"] == "false"
    downloads = [r for r in instruction("RUN") if "prefetch_weights.py" in r]
    assert len(downloads) == 1 and '[ "$PREFETCH_VGG" = "true" ]' in downloads[0]
    apt = " ".join(r for r in instruction("RUN") if "apt-get install" in r)
    assert "python3.11" in apt and "openjdk-17-jdk-headless" in apt
    assert "PYTHON=python3.11" in " ".join(instruction("RUN"))
    user = instruction("USER")[-1]
    uid, gid = (int(x) for x in user.split(":"))
    assert uid >= 1000 and gid >= 1000
    assert {int(p) for p in " ".join(instruction("EXPOSE")).split()} == set(PORTS.values())
    assert instruction("CMD") == ['["/app/scripts/container_start.sh"]']
    health = instruction("HEALTHCHECK")[0]
    assert '"/app/scripts/ready.py"' in health and "/ping" not in health
    env = " ".join(instruction("ENV"))
    assert "CONVLENS_HOST=0.0.0.0" in env and "CONVLENS_TOKEN_AUTH=off" not in env


def test_the_paths_the_image_runs_exist_here_and_are_executable():
    for script in ("container_start.sh", "ready.py", "install.sh", "serve.sh", "build_token_plugin.py",
                   "prefetch_weights.py"):
        assert os.access(ROOT / "scripts" / script, os.X_OK), script
    probe = container()["readinessProbe"]["exec"]["command"]
    assert probe[:2] == ["/app/.venv/bin/python", "/app/scripts/ready.py"]
    assert instruction("WORKDIR") == ["/app"]


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """A small version of Docker's matcher: a pattern excludes a path or any folder above it."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        for candidate in candidates:
            if fnmatch.fnmatch(candidate, pattern) or (
                    pattern.startswith("**/") and fnmatch.fnmatch(candidate.split("/")[-1], pattern[3:])):
                return True
    return False


def test_dockerignore_keeps_the_build_context_small():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for must in (".git", ".venv", ".run", "build", "model_store/*.mar", "**/__pycache__", ".pytest_cache"):
        assert must in patterns, must
    for path in (".venv/bin/python", "build/token-plugin/convlens-tokens.jar", "model_store/classify.mar",
                 "handlers/convlens/__pycache__/x.pyc", ".git/HEAD", ".run/key_file.json"):
        assert dockerignore_excludes(path, patterns), path
    for path in ("Dockerfile", "scripts/install.sh", "model_store/classify.yaml", "handlers/classify.py",
                 "requirements/lock.txt", "deploy/token-plugin/src/org/convlens/tokens/FixedTokens.java"):
        assert not dockerignore_excludes(path, patterns), path
    total = 0
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = Path(dirpath).relative_to(ROOT)
        dirnames[:] = [d for d in dirnames if not dockerignore_excludes((rel / d).as_posix(), patterns)]
        for name in filenames:
            if not dockerignore_excludes((rel / name).as_posix(), patterns):
                total += (Path(dirpath) / name).stat().st_size
    assert total < 25 * 2**20, f"build context {total / 2**20:.1f} MiB"


# --- Kubernetes manifests -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.29.0", kubernetes_validate.latest_version()])
def test_manifests_validate_against_the_kubernetes_schemas(version):
    docs = [(name, d) for name, ds in manifests().items() for d in ds]
    assert {d["kind"] for _, d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler",
                                            "PodDisruptionBudget", "ConfigMap", "Secret", "NetworkPolicy"}
    for _name, doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)  # raises on any schema error


def test_schema_validation_catches_mistakes():
    deployment = resource("Deployment")
    wrong_type = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, kubernetes_validate.latest_version(), strict=True)
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == set(manifests()) - {"secret.example.yaml"}
    assert kustomization["images"][0]["name"] == container()["image"].split(":")[0]


def test_deployment_gpu_probes_and_security():
    spec = resource("Deployment")["spec"]
    pod = spec["template"]["spec"]
    c = container()
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = c[probe]["exec"]["command"]
        assert command[1] == "/app/scripts/ready.py", probe
        assert "/ping" not in " ".join(command)
        timeout = float(command[command.index("--timeout") + 1])
        # ready.py makes one call per endpoint: the probe's own timeout covers a slow answer for two of them
        assert c[probe]["timeoutSeconds"] > 2 * timeout, probe
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # minutes of model loading allowed
    live = c["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > c["readinessProbe"]["periodSeconds"] * 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    uid, gid = (int(x) for x in instruction("USER")[-1].split(":"))
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tokens"]["secret"]["secretName"] == resource("Secret", "convlens-tokens")["metadata"]["name"]
    assert mounts["tokens"] == env["CONVLENS_TOKEN_DIR"]
    assert mounts["run"] == env["CONVLENS_RUN_DIR"] and "emptyDir" in volumes["run"]
    assert set(resource("Secret", "convlens-tokens")["stringData"]) == {"inference", "management", "api"}
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_ports_agree_across_dockerfile_config_manifests_and_service():
    config = resource("ConfigMap", "convlens-config")["data"]
    from_config = {name: int(config[f"CONVLENS_{key}_PORT"]) for name, key in
                   (("http", "HTTP"), ("management", "MANAGEMENT"), ("metrics", "METRICS"), ("grpc", "GRPC"),
                    ("grpc_management", "GRPC_MANAGEMENT"))}
    assert from_config == PORTS
    written = write_config.config_text("0.0.0.0", from_config, ROOT / "model_store", 60)
    for key, port in (("inference_address", 8080), ("management_address", 8081), ("metrics_address", 8082),
                      ("grpc_inference_port", 7070), ("grpc_management_port", 7071)):
        assert re.search(rf"^{key}=(.*:)?{port}$", written, re.M), key
    container_ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert set(container_ports.values()) == set(PORTS.values())
    annotations = resource("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and int(annotations["prometheus.io/port"]) == 8082
    service = {p["name"]: p for p in resource("Service")["spec"]["ports"]}
    assert {p["port"] for p in service.values()} == {8080, 7070}  # management and metrics not exposed
    assert container_ports[service["grpc"]["targetPort"]] == 7070
    assert container_ports[service["http"]["targetPort"]] == 8080
    headless = resource("Service", "convlens-grpc")["spec"]
    assert headless["clusterIP"] == "None" and [p["port"] for p in headless["ports"]] == [7070]
    policy_ports = {p["port"] for p in resource("NetworkPolicy")["spec"]["ingress"][0]["ports"]}
    assert policy_ports == {8080, 7070, 8082}


def test_config_keys_are_the_ones_write_config_reads():
    keys = env_vars_read_by_write_config()
    config = resource("ConfigMap", "convlens-config")["data"]
    assert set(config) <= keys
    assert config["CONVLENS_HOST"] == "0.0.0.0" and config["CONVLENS_TOKEN_AUTH"] == "on"
    dockerfile_env = set(re.findall(r"(CONVLENS_[A-Z_]+)=", " ".join(instruction("ENV"))))
    start = (ROOT / "scripts" / "container_start.sh").read_text()
    assert dockerfile_env <= keys | {"CONVLENS_RUN_DIR"} and "CONVLENS_RUN_DIR" in start + (
        ROOT / "scripts" / "serve.sh").read_text()
    hpa = resource("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == resource("Deployment")["metadata"]["name"]
    assert hpa["minReplicas"] >= resource("PodDisruptionBudget")["spec"]["minAvailable"] + 1


# --- README and docs/operations.md agree --------------------------------------------------------------------------

def test_readme_deployment_section_uses_the_same_install_script_ports_and_keys():
    section = readme_section("Deployment")
    assert "scripts/install.sh" in section and "docker build" in section and "--gpus" in section
    assert "kubectl apply -k deploy/k8s" in section
    published = {int(p) for p in re.findall(r"-p 127\.0\.0\.1:(\d+):\d+", section)}
    assert published == {8080, 7070}
    for port in PORTS.values():
        assert str(port) in section, port
    for key in set(resource("ConfigMap", "convlens-config")["data"]) | {"CONVLENS_TOKEN_DIR", "CONVLENS_RUN_DIR"}:
        assert key in section, key
    assert "0.0.0.0" in section and "token" in section.lower()
    for arg in re.findall(r"ARG (\w+)", (ROOT / "Dockerfile").read_text()):
        assert arg in section, arg
    quick_start = readme_section("Quick start")
    assert "make serve" in quick_start  # Makefile -> scripts/install.sh, the same script (test above)
    scale = readme_section("Scaling out")
    for topic in ("replica", "gRPC", "maxUnavailable", "readiness", "enable_model_api"):
        assert topic in scale, topic


# --- start-script guards (no server needed) ----------------------------------------------------------------------

@pytest.mark.parametrize("host, ok", [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
                                      ("localhost", True), ("0.0.0.0", False), ("10.0.0.5", False),
                                      ("::", False), ("convlens.example", False)])
def test_tokenless_config_only_on_loopback(host, ok):
    assert write_config.is_loopback(host) is ok
    if ok:
        text = write_config.config_text(host, PORTS, ROOT / "model_store", 60, token_auth=False)
        assert "disable_token_authorization=true" in text
    else:
        with pytest.raises(ValueError, match="token authorization off"):
            write_config.config_text(host, PORTS, ROOT / "model_store", 60, token_auth=False)
        assert "disable_token_authorization=false" in write_config.config_text(host, PORTS, ROOT / "model_store", 60)


@pytest.mark.parametrize("env, message", [
    ({"CONVLENS_HOST": "0.0.0.0", "CONVLENS_TOKEN_AUTH": "off"}, "refusing to listen on 0.0.0.0"),
    ({"CONVLENS_TOKEN_DIR": "/nonexistent-convlens-tokens"}, "no readable 'inference' token file"),
])
def test_container_start_refuses_unsafe_settings_before_starting_anything(tmp_path, env, message):
    full_env = {**os.environ, "CONVLENS_RUN_DIR": str(tmp_path / "run"), **env}
    result = subprocess.run([str(ROOT / "scripts" / "container_start.sh")], capture_output=True, text=True,
                            timeout=60, env=full_env)
    assert result.returncode == 64 and message in result.stderr
    assert not (tmp_path / "run").exists()  # refused before any config was written or server started


def test_write_config_cli_refuses_tokenless_public_bind(tmp_path):
    out = tmp_path / "config.properties"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "write_config.py"), "--out", str(out),
                             "--host", "0.0.0.0", "--token-auth", "off"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "refusing" in result.stderr and not out.exists()
    plugins = tmp_path / "plugins"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "write_config.py"), "--out", str(out), "--host",
                    "0.0.0.0", "--plugins-path", str(plugins)], check=True, capture_output=True, timeout=60)
    text = out.read_text()
    assert "disable_token_authorization=false" in text and f"plugins_path={plugins}" in text


# --- one Deployment per profile (deploy/k8s-profiles) -------------------------------------------------------------

PROFILES_DIR = ROOT / "deploy" / "k8s-profiles"


def rendered(path: Path) -> list[dict]:
    """What `kubectl apply -k path` would send: kustomize's output, rendered offline."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_one_deployment_per_profile_each_serving_its_profile_alone():
    import profiles

    wanted = sorted(set(profiles.profiles()) - {profiles.ALL})
    overlays = sorted(p.parent.name for p in PROFILES_DIR.glob("*/kustomization.yaml"))
    assert overlays == wanted
    top = yaml.safe_load((PROFILES_DIR / "kustomization.yaml").read_text())
    assert top["resources"] == wanted
    docs = rendered(PROFILES_DIR)
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), "two profiles render a resource of the same name"
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    base = resource("Deployment")["spec"]["template"]["spec"]["containers"][0]["resources"]
    for profile in wanted:
        deployment = by_name[("Deployment", f"convlens-{profile}")]
        pod = deployment["spec"]["template"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/component"] == profile == pod["metadata"]["labels"][
            "app.kubernetes.io/component"]
        container = pod["spec"]["containers"][0]
        config = container["envFrom"][0]["configMapRef"]["name"]
        assert by_name[("ConfigMap", config)]["data"]["CONVLENS_ENDPOINTS"] == profile
        assert profiles.resolve(profile) == profiles.profiles()[profile]  # a name the start script accepts
        assert {v["name"]: v for v in pod["spec"]["volumes"]}["tokens"]["secret"]["secretName"] == "convlens-tokens"
        memory = container["resources"]
        assert memory["requests"]["memory"] != base["requests"]["memory"]  # sized to the profile
        for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
            spec = by_name[(kind, f"convlens-{profile}")]["spec"]
            chosen = spec.get("selector", spec.get("podSelector", {}))
            chosen = chosen.get("matchLabels", chosen)
            assert chosen["app.kubernetes.io/component"] == profile, kind  # only this profile's pods
        assert by_name[("HorizontalPodAutoscaler", f"convlens-{profile}")]["spec"]["scaleTargetRef"]["name"] == \
            f"convlens-{profile}"
