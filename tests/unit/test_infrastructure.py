"""Terraform and Cloud Build kept in step with the code, by parsing (python-hcl2) and, where a ``terraform``
binary is on the machine, by Terraform itself offline: ``fmt -check``, and ``console`` over the files that hold
only locals and variables (the routing table, the log filters). ``validate`` and ``plan`` need the google
provider, which cannot be downloaded here, so they never run in tests.

Every function folder is deployed, every environment variable is a real setting, the pipeline stays private
with a timeout that covers Cloud Tasks' dispatch deadline, every role says why, and the build runs
test -> package -> deploy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import hcl2
import pytest
import yaml

from convoinsight.jobs.cloudtasks import DISPATCH_DEADLINE_SECONDS
from convoinsight.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
MODULES = TF / "modules"
ENVIRONMENTS = TF / "environments"
EXPECTED_MODULES = {"functions", "storage", "firestore", "redis", "tasks", "iam", "secrets", "stack", "gateway",
                    "monitoring"}
STACK = MODULES / "stack"
SETTING_NAMES = {s.name for s in SETTINGS}
TF_FILES = sorted(TF.rglob("*.tf"))


TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="no terraform binary on this machine")


class TerraformError(Exception):
    """Terraform refused the configuration or the values (its own message)."""


def _terraform_env(home: str) -> dict[str, str]:
    # No update check (CHECKPOINT_DISABLE), no CLI configuration, no prompts: nothing leaves the machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=os.devnull, TF_INPUT="0", TF_IN_AUTOMATION="1",
               TF_DATA_DIR=str(Path(home) / ".terraform"), HOME=home)
    return env


def terraform_eval(files: list[Path], variables: dict, expression: str):
    """The value of ``expression`` as Terraform computes it over ``files`` alone, with ``variables`` set.

    Only files without resources, providers or modules can be given (locals and variables): ``terraform console``
    then needs no ``init`` and no provider. Variable validations run as in a plan; a refused value raises
    TerraformError with Terraform's message.
    """
    with tempfile.TemporaryDirectory(prefix="tf-eval-") as work:
        for path in files:
            shutil.copy(path, work)
        Path(work, "values.auto.tfvars.json").write_text(json.dumps(variables))
        done = subprocess.run([TERRAFORM, "console", "-no-color"], input=f"jsonencode({expression})\n", cwd=work,
                              env=_terraform_env(work), capture_output=True, text=True, timeout=60)
        # A refused variable value is reported on stderr while the console still exits 0 (with a warning).
        if done.returncode != 0 or "Error:" in done.stderr:
            raise TerraformError(done.stderr or done.stdout)
        # The console prints the JSON text as an HCL string literal: JSON's escapes, plus $${ and %%{.
        literal = done.stdout.strip().splitlines()[-1].replace("$${", "${").replace("%%{", "%{")
        return json.loads(json.loads(literal))


def _unq(value):
    """python-hcl2 keeps the quotes of block labels and string literals: strip them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _parse(path: Path) -> dict:
    with path.open() as fh:
        return hcl2.load(fh)


def _locals(path: Path) -> dict:
    merged: dict = {}
    for block in _parse(path).get("locals", []):
        merged.update(block)
    return merged


def _resources(path: Path, rtype: str) -> dict[str, dict]:
    found = {}
    for block in _parse(path).get("resource", []):
        for typ, by_name in block.items():
            if _unq(typ) == rtype:
                found.update({_unq(name): body for name, body in by_name.items()})
    return found


def _variables(path: Path) -> dict[str, dict]:
    return {_unq(name): body for block in _parse(path).get("variable", []) for name, body in block.items()}


def _default(path: Path, variable: str):
    return _unq(_variables(path)[variable]["default"])


def _function_folders() -> set[str]:
    return {p.parent.name for p in (ROOT / "functions").glob("*/main.py")}


def _functions_config() -> dict:
    return _locals(MODULES / "functions" / "main.tf")["functions"]


def _environments() -> list[Path]:
    return sorted(p for p in ENVIRONMENTS.iterdir() if p.is_dir())


def test_terraform_tree_exists():
    assert {p.name for p in MODULES.iterdir() if p.is_dir()} == EXPECTED_MODULES
    assert {p.name for p in _environments()} >= {"prod", "dev"}
    assert len(TF_FILES) > 30


@pytest.mark.parametrize("path", TF_FILES + sorted(TF.rglob("*.tfvars.example")), ids=lambda p: str(p.relative_to(TF)))
def test_every_terraform_file_parses(path):
    _parse(path)


@needs_terraform
def test_terraform_fmt_finds_nothing_to_change(tmp_path):
    done = subprocess.run([TERRAFORM, "fmt", "-check", "-recursive", "-list=true", str(TF)], capture_output=True,
                          text=True, env=_terraform_env(str(tmp_path)), timeout=60)
    assert done.returncode == 0, f"run `terraform fmt -recursive terraform/`: {done.stdout or done.stderr}"
    for example in sorted(TF.rglob("*.tfvars.example")):  # fmt skips these by their name: feed them by hand
        text = example.read_text()
        formatted = subprocess.run([TERRAFORM, "fmt", "-"], input=text, capture_output=True, text=True,
                                   env=_terraform_env(str(tmp_path)), timeout=60, check=True).stdout
        assert formatted == text, f"{example.relative_to(TF)} is not in terraform fmt's layout"


@pytest.mark.parametrize("folder", [*sorted(EXPECTED_MODULES), "../environments/prod", "../environments/dev"])
def test_every_module_and_environment_has_its_files(folder):
    directory = (MODULES / folder).resolve()
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (directory / name).is_file(), f"{directory.relative_to(ROOT)} lacks {name}"
    versions = (directory / "versions.tf").read_text()
    assert 'source  = "hashicorp/google"' in versions and 'version = "~> 6.' in versions
    if "environments" in folder:
        assert (directory / "terraform.tfvars.example").is_file()
        assert 'backend "gcs"' in versions


@pytest.mark.parametrize("path", sorted(TF.rglob("variables.tf")), ids=lambda p: str(p.relative_to(TF)))
def test_every_variable_has_a_description_and_ids_are_validated(path):
    variables = _variables(path)
    assert variables
    for name, body in variables.items():
        assert _unq(body.get("description", "")).strip(), f"{path.relative_to(TF)}: variable {name} has no description"
        # Environments pass their values to the stack module, which validates them.
        if name in {"project_id", "region", "name_prefix"} and "environments" not in path.parts:
            assert body.get("validation"), f"{path.relative_to(TF)}: variable {name} has no validation"


def test_functions_module_deploys_every_function_folder():
    assert set(_functions_config()) == _function_folders()
    main = MODULES / "functions" / "main.tf"
    fn = _resources(main, "google_cloudfunctions2_function")["function"]
    assert fn["for_each"] == "${local.functions}"
    build = fn["build_config"][0]
    assert _unq(build["runtime"]) == "python311"
    assert build["entry_point"] == "${each.key}"  # the decorated function in main.py is named after its folder
    storage = build["source"][0]["storage_source"][0]
    assert _unq(storage["object"]) == "functions/${var.source_version}/${each.key}.zip"
    service = fn["service_config"][0]
    # one service account per function
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    assert _resources(main, "google_service_account")["function"]["for_each"] == "${local.functions}"
    assert service["vpc_connector"] == "${var.vpc_connector}"


def test_every_function_entry_point_matches_its_folder():
    for name in _function_folders():
        source = (ROOT / "functions" / name / "main.py").read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"functions/{name}/main.py has no def {name}(...)"


def test_only_ingest_has_the_storage_trigger():
    assert {name for name, f in _functions_config().items() if f["event"]} == {"ingest"}
    text = (MODULES / "functions" / "main.tf").read_text()
    assert 'event_type            = "google.cloud.storage.object.v1.finalized"' in text
    assert "value     = event_trigger.value" in text  # filtered on the datasets bucket


def test_pipeline_is_private_and_outlasts_the_dispatch_deadline():
    functions = _functions_config()
    pipeline = functions["pipeline"]
    default_deadline = int(next(s.default for s in SETTINGS if s.name == "TASKS_DISPATCH_DEADLINE_SECONDS"))
    assert default_deadline == DISPATCH_DEADLINE_SECONDS == 600
    assert pipeline["timeout"] >= default_deadline
    assert pipeline["public"] is False and functions["ingest"]["public"] is False

    public = _resources(MODULES / "functions" / "main.tf", "google_cloud_run_v2_service_iam_member")["public"]
    assert "if f.public && var.public_http" in public["for_each"]
    assert _unq(public["member"]) == "allUsers" and _unq(public["role"]) == "roles/run.invoker"
    # allUsers is granted nowhere else, but read of the web console's objects (its static files, nothing secret)
    holders = sorted(p for p in TF_FILES if '"allUsers"' in p.read_text())
    assert holders == [MODULES / "functions" / "main.tf", MODULES / "gateway" / "console.tf"]
    console = _resources(MODULES / "gateway" / "console.tf", "google_storage_bucket_iam_member")
    assert list(console) == ["console_public"]
    assert _unq(console["console_public"]["role"]) == "roles/storage.objectViewer"
    assert _unq(console["console_public"]["bucket"]) == "${google_storage_bucket.console[0].name}"
    # public_http is a switch, off in dev
    assert _default(ENVIRONMENTS / "dev" / "variables.tf", "public_http") is False


def test_tasks_target_url_is_the_pipeline_function():
    module_env = _locals(MODULES / "functions" / "main.tf")["module_environment"]
    assert module_env == {"TASKS_TARGET_URL": "${local.pipeline_url}"}
    url = _unq(_locals(MODULES / "functions" / "main.tf")["pipeline_url"])
    assert url.startswith("https://${var.name_prefix}-pipeline-")  # the function named "<prefix>-pipeline"
    fn = _resources(MODULES / "functions" / "main.tf", "google_cloudfunctions2_function")["function"]
    assert _unq(fn["name"]) == "${var.name_prefix}-${each.key}"


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_function_environment_uses_setting_names_only(env):
    root = ENVIRONMENTS / env
    base = _locals(STACK / "main.tf")["base_environment"]
    module_env = _locals(MODULES / "functions" / "main.tf")["module_environment"]
    secrets = {_unq(n) for n in _variables(STACK / "variables.tf")["secret_settings"]["default"]}
    extra = _parse(root / "terraform.tfvars.example").get("extra_environment", {})
    names = set(base) | set(module_env) | secrets | set(extra)
    assert names <= SETTING_NAMES, f"not settings: {sorted(names - SETTING_NAMES)}"

    assert _unq(base["DEPLOYMENT_MODE"]) == "cloud"
    # 1 on function URLs (Google's front end); 2 behind the load balancer, which appends "<client>,<its address>".
    assert _unq(base["TRUSTED_PROXY_HOPS"]) == '${var.domain == "" ? "1" : "2"}'
    assert _default(root / "variables.tf", "auth_mode") == "firebase"
    assert _default(STACK / "variables.tf", "auth_mode") == "firebase"
    for required in ("GCP_PROJECT_ID", "GCS_BUCKET", "REDIS_URL", "TASKS_LOCATION", "TASKS_QUEUE",
                     "TASKS_SERVICE_ACCOUNT", "LLM_MODEL"):
        assert required in base, f"{env} does not set {required}"
    # secrets travel as secret environment variables only, never plain
    assert secrets == {"LLM_API_KEY", "FERNET_KEY"}  # model keys; the key of stored database passwords
    assert not secrets & set(base)
    text = (MODULES / "functions" / "main.tf").read_text()
    assert 'dynamic "secret_environment_variables"' in text


def test_every_role_binding_says_why():
    missing = []
    for path in TF_FILES:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(r"\s*role\s*=", line):
                before = lines[max(0, i - 2):i]
                if not any(b.strip().startswith("#") for b in before):
                    missing.append(f"{path.relative_to(TF)}:{i + 1}")
    assert not missing, f"role without a comment in the 2 lines above: {missing}"


def test_iam_grants_the_roles_the_code_needs():
    iam = _locals(MODULES / "iam" / "main.tf")
    project = {(v["member"], _unq(v["role"])) for v in iam["project_roles"].values()}
    bucket = {(v["member"], _unq(v["role"])) for v in iam["bucket_roles"].values()}

    def sa(name):
        return f'${{local.sa["{name}"]}}'

    assert (sa("datasets"), "roles/storage.objectAdmin") in bucket
    assert (sa("datasets"), "roles/datastore.user") in project
    assert (sa("queries"), "roles/cloudtasks.enqueuer") in project
    assert (sa("pipeline"), "roles/cloudtasks.enqueuer") in project
    assert (sa("ingest"), "roles/eventarc.eventReceiver") in project
    assert (sa("ingest"), "roles/storage.objectAdmin") in bucket
    assert set(iam["invoker_users"]) == {"queries", "pipeline"}
    assert "datasets" in {_unq(n) for n in iam["self_signers"]}  # signs upload URLs through IAM as itself

    main = MODULES / "iam" / "main.tf"
    signer = _resources(main, "google_service_account_iam_member")["self_signer"]
    assert _unq(signer["role"]) == "roles/iam.serviceAccountTokenCreator"
    assert _unq(signer["member"]) == "serviceAccount:${local.sa[each.key]}"  # on ITSELF
    assert "${local.sa[each.key]}" in _unq(signer["service_account_id"])
    invoker = _resources(main, "google_cloud_run_v2_service_iam_member")["tasks_invokes_pipeline"]
    assert _unq(invoker["role"]) == "roles/run.invoker"
    assert _unq(invoker["name"]) == '${var.function_services["pipeline"]}'
    assert _unq(invoker["member"]) == "serviceAccount:${var.tasks_invoker_email}"


def test_firestore_index_matches_the_messages_query():
    index = _resources(MODULES / "firestore" / "main.tf", "google_firestore_index")["messages_role_seq"]
    assert _unq(index["collection"]) == "messages"
    fields = [(_unq(f["field_path"]), _unq(f["order"])) for f in index["fields"]]
    assert fields == [("role", "ASCENDING"), ("seq", "DESCENDING")]
    # The history route pages a session's answers oldest first (sessions/history.py).
    history = _resources(MODULES / "firestore" / "main.tf", "google_firestore_index")["messages_role_seq_ascending"]
    assert [(_unq(f["field_path"]), _unq(f["order"])) for f in history["fields"]] == [("role", "ASCENDING"),
                                                                                        ("seq", "ASCENDING")]
    db = _resources(MODULES / "firestore" / "main.tf", "google_firestore_database")["default"]
    assert _unq(db["type"]) == "FIRESTORE_NATIVE"


def test_storage_bucket_settings():
    bucket = _resources(MODULES / "storage" / "main.tf", "google_storage_bucket")["datasets"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["versioning"][0]["enabled"] is False
    assert _unq(bucket["public_access_prevention"]) == "enforced"
    cors = next(block[key] for block in bucket["dynamic"] for key in block if _unq(key) == "cors")
    assert [_unq(m) for m in cors["content"][0]["method"]] == ["PUT", "GET", "HEAD", "OPTIONS"]


def test_tasks_queue_name_and_retries():
    queue = _resources(MODULES / "tasks" / "main.tf", "google_cloud_tasks_queue")["pipeline"]
    retry = queue["retry_config"][0]
    assert {"max_attempts", "min_backoff", "max_backoff"} <= set(retry)
    default_queue = next(s.default for s in SETTINGS if s.name == "TASKS_QUEUE")
    assert _default(MODULES / "tasks" / "variables.tf", "queue_name") == default_queue


def test_redis_is_basic_tier_behind_a_connector():
    main = MODULES / "redis" / "main.tf"
    assert _unq(_resources(main, "google_redis_instance")["cache"]["tier"]) == "BASIC"
    assert "functions" in _resources(main, "google_vpc_access_connector")


def test_cloudbuild_runs_test_package_deploy_in_order():
    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    ids = [step["id"] for step in build["steps"]]
    assert ids.index("test") < ids.index("package") < ids.index("deploy")
    steps = {step["id"]: step for step in build["steps"]}
    assert "make setup && make test" in " ".join(steps["test"]["args"])
    assert "terraform/package.sh" in " ".join(steps["package"]["args"])
    deploy = steps["deploy"]
    # The pinned terraform binary, run in the cloud-sdk image: the startup CPU boost runs gcloud inside the apply
    # (tests/unit/test_terraform_latency.py).
    assert ids.index("terraform-binary") < ids.index("deploy")
    assert steps["terraform-binary"]["name"] == "${_TERRAFORM_IMAGE}"
    assert re.fullmatch(r"hashicorp/terraform:\d+\.\d+\.\d+", build["substitutions"]["_TERRAFORM_IMAGE"])
    assert deploy["name"].startswith("gcr.io/google.com/cloudsdktool/cloud-sdk:")
    assert deploy["dir"] == "terraform/environments/${_ENV}"
    script = " ".join(deploy["args"])
    assert "terraform init" in script and "terraform apply" in script and "source_version=$BUILD_ID" in script
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", (ROOT / "cloudbuild.yaml").read_text()))
    assert used == set(build["substitutions"])


def test_package_script_builds_one_zip_per_function(tmp_path):
    subprocess.run(["bash", str(TF / "package.sh"), str(tmp_path)], check=True, capture_output=True, timeout=120)
    assert {p.stem for p in tmp_path.glob("*.zip")} == _function_folders()
    with zipfile.ZipFile(tmp_path / "pipeline.zip") as zf:
        names = set(zf.namelist())
        assert zf.read("main.py") == (ROOT / "functions" / "pipeline" / "main.py").read_bytes()
    assert {"main.py", "requirements.txt", "convoinsight/__init__.py", "convoinsight/settings.py"} <= names
    assert {f"prompts/{p.name}" for p in (ROOT / "prompts").glob("*.yaml")} <= names
    # Bytecode ships for the package only (no stale cache of main.py), hash-checked so that it is valid after
    # unzipping whatever the files' times, and reproducible: the same source gives the same zip.
    pycs = {n for n in names if n.endswith(".pyc")}
    assert any(n.startswith("convoinsight/__pycache__/settings.cpython-") for n in pycs)
    assert all(n.startswith("convoinsight/") for n in pycs)
    with zipfile.ZipFile(tmp_path / "pipeline.zip") as zf:
        pyc = zf.read(next(n for n in pycs if "/settings.cpython-" in n))
    assert int.from_bytes(pyc[4:8], "little") == 0b11  # hash-based (bit 0) and checked (bit 1): PEP 552
    again = tmp_path / "again"
    subprocess.run(["bash", str(TF / "package.sh"), str(again)], check=True, capture_output=True, timeout=120)
    assert (again / "pipeline.zip").read_bytes() == (tmp_path / "pipeline.zip").read_bytes()


def test_environments_are_thin_calls_of_the_stack_differing_only_in_values():
    calls = {env.name: _parse(env / "main.tf")["module"] for env in _environments()}
    for env, modules in calls.items():
        assert [_unq(next(iter(m))) for m in modules] == ["stack"], f"{env} wires more than the stack"
    prod, dev = (next(iter(calls[e][0].values())) for e in ("prod", "dev"))
    assert set(prod) == set(dev)  # the same arguments; what differs is only their values
    assert (prod["deletion_protection"], dev["deletion_protection"]) == (True, False)


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_every_example_value_is_a_declared_variable(env):
    declared = set(_variables(ENVIRONMENTS / env / "variables.tf"))
    example = {k for k in _parse(ENVIRONMENTS / env / "terraform.tfvars.example") if not k.startswith("__")}
    assert example <= declared, f"undeclared in the {env} example: {sorted(example - declared)}"


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_the_fallbacks_provider_keys_can_be_secrets(env):
    """Every provider of the prompts' shipped fallbacks has its key in the example's provider_key_secrets, which
    become Secret Manager secrets given to the functions that call models (like LLM_API_KEY)."""
    providers = set()
    for path in (ROOT / "prompts").glob("*.yaml"):
        providers |= {model.split("/", 1)[0] for model in yaml.safe_load(path.read_text()).get("fallbacks") or []}
    assert providers, "the prompts ship fallbacks on other providers"
    example = (ENVIRONMENTS / env / "terraform.tfvars.example").read_text()
    line = re.search(r"^#\s*provider_key_secrets\s*=\s*(\[.*\])$", example, re.M)
    assert line, "the example shows provider_key_secrets"
    assert set(json.loads(line.group(1))) == {f"{p.upper()}_API_KEY" for p in providers}
    assert 'setunion(var.secret_settings, var.provider_key_secrets)' in (STACK / "main.tf").read_text()
    assert "provider_key_secrets = var.provider_key_secrets" in (ENVIRONMENTS / env / "main.tf").read_text()
    assert _variables(STACK / "variables.tf")["provider_key_secrets"]["default"] == []  # no secret without a value
