"""Latency in Terraform (issue #15): warm instances and startup CPU boost for queries and pipeline.

The Cloud Functions v2 API has no field for Cloud Run's startup CPU boost, so the functions module applies it to
each boosted function's Cloud Run service with ``terraform/scripts/cpu-boost.sh`` (``gcloud run services update
--cpu-boost``), from a ``terraform_data`` keyed on the function's update_time and service name.

All offline: the stack's choice per environment is evaluated with ``terraform console`` (latency.tf holds only
locals), ``cpu_boost.tf`` is really applied by Terraform (``terraform_data`` needs no provider) beside stand-in
targets, and the script runs against a fake ``gcloud`` that records its arguments. The real gcloud, wherever
installed, is never on the PATH these runs see.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.test_infrastructure import (
    ENVIRONMENTS,
    MODULES,
    ROOT,
    TERRAFORM,
    TF,
    TerraformError,
    _functions_config,
    _parse,
    _terraform_env,
    _unq,
    _variables,
    needs_terraform,
    terraform_eval,
)

SCRIPT = TF / "scripts" / "cpu-boost.sh"
FUNCTIONS = MODULES / "functions"
STACK = MODULES / "stack"
PROJECT, REGION = "my-project-id", "europe-west1"
# The variables without a default, in the environments and in the stack.
REQUIRED = {"project_id": PROJECT, "datasets_bucket": "my-datasets", "source_bucket": "my-artifacts",
            "source_version": "build-1"}
# What the functions module needs besides (its variables without a default).
FUNCTIONS_REQUIRED = {"project_id": PROJECT, "project_number": "123456789012", "region": REGION,
                      "name_prefix": "convoinsight", "source_bucket": "my-artifacts", "source_version": "build-1",
                      "datasets_bucket": "my-datasets",
                      "vpc_connector": f"projects/{PROJECT}/locations/{REGION}/connectors/convoinsight"}
BASH = shutil.which("bash")


def _deep(value):
    """python-hcl2 keeps the quotes of labels, keys and string literals: strip them all the way down."""
    if isinstance(value, dict):
        return {_unq(k): _deep(v) for k, v in value.items() if k not in {"__is_block__", "__comments__"}}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return _unq(value)


def _hcl(path: Path) -> dict:
    return _deep(_parse(path))


def _outputs(path: Path) -> dict:
    return {k: v for block in _hcl(path)["output"] for k, v in block.items()}


def _gcloud_args(service, project=PROJECT, region=REGION) -> list[str]:
    return ["run", "services", "update", service, "--project", project, "--region", region, "--cpu-boost",
            "--quiet"]


def _bin(tmp_path: Path, *, gcloud: bool, gcloud_exit: int = 0) -> Path:
    """A PATH of its own: bash, and a fake gcloud (when asked) appending its arguments to gcloud.log as JSON."""
    path = tmp_path / "bin"
    path.mkdir(exist_ok=True)
    if not (path / "bash").exists():
        (path / "bash").symlink_to(BASH)
    fake = path / "gcloud"
    fake.unlink(missing_ok=True)
    if gcloud:
        fake.write_text(f"#!{sys.executable}\n"
                        "import json, os, sys\n"
                        "with open(os.environ['GCLOUD_LOG'], 'a') as fh:\n"
                        "    fh.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                        f"sys.exit({gcloud_exit})\n")
        fake.chmod(0o755)
    return path


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# --- the script ----------------------------------------------------------------------------------------------

def _run_script(tmp_path, *args, gcloud=True, gcloud_exit=0):
    log = tmp_path / "gcloud.log"
    env = {"PATH": str(_bin(tmp_path, gcloud=gcloud, gcloud_exit=gcloud_exit)), "GCLOUD_LOG": str(log)}
    done = subprocess.run([BASH, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30)
    return done, _calls(log)


def test_the_script_runs_exactly_the_gcloud_update_with_cpu_boost(tmp_path):
    done, calls = _run_script(tmp_path, "convoinsight-queries", PROJECT, REGION)
    assert done.returncode == 0, done.stderr
    assert calls == [_gcloud_args("convoinsight-queries")]
    assert "convoinsight-queries" in done.stdout


def test_the_script_fails_clearly_without_gcloud(tmp_path):
    done, calls = _run_script(tmp_path, "convoinsight-queries", PROJECT, REGION, gcloud=False)
    assert done.returncode == 127
    assert "gcloud not found on PATH" in done.stderr
    assert "convoinsight-queries" in done.stderr and PROJECT in done.stderr and REGION in done.stderr
    assert "startup_cpu_boost = false" in done.stderr  # the way out is said, and it is not taken silently
    assert calls == []


def test_a_gcloud_failure_fails_the_script(tmp_path):
    done, calls = _run_script(tmp_path, "convoinsight-queries", PROJECT, REGION, gcloud_exit=1)
    assert done.returncode == 1
    assert calls == [_gcloud_args("convoinsight-queries")]


@pytest.mark.parametrize("args", [
    (),
    ("convoinsight-queries", PROJECT),
    ("convoinsight-queries", PROJECT, REGION, "extra"),
    ("", PROJECT, REGION),
    ("convoinsight-queries", "", REGION),
    (f"projects/{PROJECT}/locations/{REGION}/services/convoinsight-queries", PROJECT, REGION),
    ("Convoinsight-Queries", PROJECT, REGION),
    ("convoinsight-queries; rm -rf /", PROJECT, REGION),
], ids=["none", "two", "four", "empty-service", "empty-project", "resource-path", "uppercase", "shell"])
def test_the_script_refuses_bad_arguments_without_calling_gcloud(tmp_path, args):
    done, calls = _run_script(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip()
    assert calls == []


def test_the_script_is_executable_bash():
    assert SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")
    assert os.access(SCRIPT, os.X_OK)


# --- which functions each environment boosts -------------------------------------------------------------------

def _env_latency(env: str) -> dict:
    """The environment's defaults, as Terraform reads them."""
    return terraform_eval([ENVIRONMENTS / env / "variables.tf"], REQUIRED,
                          "{startup_cpu_boost = var.startup_cpu_boost, "
                          "min_instances_queries = var.min_instances_queries, "
                          "min_instances_pipeline = var.min_instances_pipeline}")


def _stack_boost(values: dict) -> list[str]:
    return terraform_eval([STACK / "latency.tf", STACK / "variables.tf"], {**REQUIRED, **values},
                          "local.cpu_boost_functions")


@needs_terraform
@pytest.mark.parametrize(("env", "boosted", "warm"), [("prod", ["pipeline", "queries"], 1), ("dev", [], 0)])
def test_each_environment_boosts_and_warms_queries_and_pipeline_or_nothing(env, boosted, warm):
    values = _env_latency(env)
    assert values == {"startup_cpu_boost": env == "prod", "min_instances_queries": warm,
                      "min_instances_pipeline": warm}
    assert _stack_boost(values) == boosted


@needs_terraform
def test_the_stack_boosts_nothing_by_default():
    assert _stack_boost({}) == []


def test_the_boosted_functions_are_functions_of_the_module():
    latency = _hcl(STACK / "latency.tf")["locals"][0]
    assert set(latency["latency_functions"]) == {"queries", "pipeline"}
    assert set(latency["latency_functions"]) <= set(_functions_config())


@pytest.mark.parametrize("env", ["prod", "dev"])
def test_the_switch_travels_from_each_environment_through_the_stack(env):
    root = ENVIRONMENTS / env
    stack_call = _hcl(root / "main.tf")["module"][0]["stack"]
    assert stack_call["startup_cpu_boost"] == "${var.startup_cpu_boost}"
    assert _variables(root / "variables.tf")["startup_cpu_boost"]["type"] == "bool"
    assert _outputs(root / "outputs.tf")["cpu_boost_services"]["value"] == "${module.stack.cpu_boost_services}"

    functions_call = next(m["functions"] for m in _hcl(STACK / "main.tf")["module"] if "functions" in m)
    assert functions_call["cpu_boost_functions"] == "${local.cpu_boost_functions}"
    assert _variables(STACK / "variables.tf")["startup_cpu_boost"]["type"] == "bool"
    assert _outputs(STACK / "outputs.tf")["cpu_boost_services"]["value"] == "${module.functions.cpu_boost_services}"


@needs_terraform
@pytest.mark.parametrize("value", ["maybe", ["queries"], {"queries": True}], ids=["word", "list", "map"])
def test_the_stack_refuses_a_switch_that_is_not_true_or_false(value):
    with pytest.raises(TerraformError, match="startup_cpu_boost"):
        _stack_boost({"startup_cpu_boost": value})


@needs_terraform
def test_a_null_switch_is_the_default_not_a_null_set():
    assert _stack_boost({"startup_cpu_boost": None}) == []  # nullable = false


@needs_terraform
@pytest.mark.parametrize("names", [
    [f"projects/{PROJECT}/locations/{REGION}/services/convoinsight-queries"],
    ["convoinsight-queries"],
    ["Queries"],
    [""],
], ids=["resource-path", "service-name", "uppercase", "empty"])
def test_the_functions_module_refuses_what_is_not_a_function_name(names):
    with pytest.raises(TerraformError, match="cpu_boost_functions must hold function names"):
        terraform_eval([FUNCTIONS / "variables.tf"], {**FUNCTIONS_REQUIRED, "cpu_boost_functions": names},
                       "var.cpu_boost_functions")


@needs_terraform
def test_the_functions_module_takes_function_names_and_boosts_nothing_by_default():
    assert terraform_eval([FUNCTIONS / "variables.tf"], FUNCTIONS_REQUIRED, "var.cpu_boost_functions") == []
    assert terraform_eval([FUNCTIONS / "variables.tf"],
                          {**FUNCTIONS_REQUIRED, "cpu_boost_functions": ["queries", "pipeline"]},
                          "var.cpu_boost_functions") == ["pipeline", "queries"]
    # nullable = false: null is the default, never a null for_each.
    assert terraform_eval([FUNCTIONS / "variables.tf"], {**FUNCTIONS_REQUIRED, "cpu_boost_functions": None},
                          "var.cpu_boost_functions") == []


# --- the module: service names, triggers, the provisioner -------------------------------------------------------

def _targets_expression() -> dict:
    return next(block["cpu_boost_targets"] for block in _hcl(FUNCTIONS / "main.tf")["locals"]
                if "cpu_boost_targets" in block)


def test_the_targets_are_each_boosted_functions_service_and_last_deploy():
    targets = _targets_expression()
    fn = "google_cloudfunctions2_function.function[name]"
    assert "for name in var.cpu_boost_functions : name =>" in targets
    assert f'service = reverse(split("/", {fn}.service_config[0].service))[0]' in targets
    assert f"update_time = {fn}.update_time" in targets
    assert "if contains(keys(local.functions), name)" in targets


@needs_terraform
@pytest.mark.parametrize("service", [f"projects/{PROJECT}/locations/{REGION}/services/convoinsight-queries",
                                     "convoinsight-queries"], ids=["resource-path", "bare-name"])
def test_the_service_name_is_the_last_segment_of_what_the_function_reports(tmp_path, service):
    expression = re.search(r'service = (reverse\(split\("/", .+?\)\)\[0\])', _targets_expression()).group(1)
    literal = expression.replace("google_cloudfunctions2_function.function[name].service_config[0].service",
                                 json.dumps(service))
    assert literal != expression
    empty = tmp_path / "empty.tf"
    empty.write_text("")
    assert terraform_eval([empty], {}, literal) == "convoinsight-queries"


def test_the_boost_resource_is_replaced_on_each_deploy_and_runs_the_script():
    boost = _hcl(FUNCTIONS / "cpu_boost.tf")["resource"][0]["terraform_data"]["cpu_boost"]
    assert boost["for_each"] == "${var.cpu_boost_functions}"
    assert boost["triggers_replace"] == "${local.cpu_boost_targets[each.key]}"  # {service, update_time}
    assert boost["input"] == "${local.cpu_boost_targets[each.key].service}"
    exec_ = boost["provisioner"][0]["local-exec"]
    assert exec_["command"] == (r'bash \"$CPU_BOOST_SCRIPT\" \"$CPU_BOOST_SERVICE\" \"$CPU_BOOST_PROJECT\" '
                                r'\"$CPU_BOOST_REGION\"')
    assert exec_["environment"] == {"CPU_BOOST_SCRIPT": "${path.module}/../../scripts/cpu-boost.sh",
                                    "CPU_BOOST_SERVICE": "${self.input}", "CPU_BOOST_PROJECT": "${var.project_id}",
                                    "CPU_BOOST_REGION": "${var.region}"}
    assert (FUNCTIONS / "../../scripts/cpu-boost.sh").resolve() == SCRIPT
    assert (_outputs(FUNCTIONS / "outputs.tf")["cpu_boost_services"]["value"]
            == "${{for name, boost in terraform_data.cpu_boost : name => boost.output}}")


class _Module:
    """cpu_boost.tf and the module's variables, applied by the real terraform in a tree shaped like terraform/.

    ``local.cpu_boost_targets`` (main.tf, computed from the functions) is stood in for by ``deployed``:
    function name => {service, update_time}, the names this module deploys.
    """

    STUB = """
variable "deployed" {
  description = "Stand-in for the deployed functions."
  type        = map(object({ service = string, update_time = string }))
}

locals {
  cpu_boost_targets = {
    for name in var.cpu_boost_functions : name => var.deployed[name] if contains(keys(var.deployed), name)
  }
}
"""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.dir = tmp_path / "terraform" / "modules" / "functions"
        self.dir.mkdir(parents=True)
        shutil.copy(FUNCTIONS / "cpu_boost.tf", self.dir)
        shutil.copy(FUNCTIONS / "variables.tf", self.dir)
        (self.dir / "stub.tf").write_text(self.STUB)
        (tmp_path / "terraform" / "scripts").mkdir()
        shutil.copy(SCRIPT, tmp_path / "terraform" / "scripts")
        self.log = tmp_path / "gcloud.log"
        self._terraform("init", "-input=false", "-no-color", gcloud=False).check_returncode()

    def _terraform(self, *args, gcloud: bool) -> subprocess.CompletedProcess:
        env = _terraform_env(str(self.tmp))
        env.update(PATH=str(_bin(self.tmp, gcloud=gcloud)), GCLOUD_LOG=str(self.log))
        return subprocess.run([TERRAFORM, *args], cwd=self.dir, env=env, capture_output=True, text=True,
                              timeout=120)

    def apply(self, boosted, deployed, *, gcloud=True) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        self.log.unlink(missing_ok=True)
        values = {**FUNCTIONS_REQUIRED, "cpu_boost_functions": boosted, "deployed": deployed}
        (self.dir / "values.auto.tfvars.json").write_text(json.dumps(values))
        done = self._terraform("apply", "-input=false", "-auto-approve", "-no-color", gcloud=gcloud)
        return done, _calls(self.log)

    def boosted(self) -> dict[str, str]:
        """The terraform_data instances in the state: function name => the service recorded as output."""
        state = json.loads(self._terraform("show", "-json", gcloud=False).stdout)
        resources = state.get("values", {}).get("root_module", {}).get("resources", [])
        return {r["index"]: r["values"]["output"] for r in resources if r["type"] == "terraform_data"}


def _deployed(**update_times) -> dict:
    return {name: {"service": f"convoinsight-{name}", "update_time": t} for name, t in update_times.items()}


@needs_terraform
def test_terraform_boosts_each_function_once_per_deploy_with_its_service_project_and_region(tmp_path):
    module = _Module(tmp_path)
    deployed = _deployed(queries="2025-01-01T00:00:00Z", pipeline="2025-01-01T00:00:00Z",
                         health="2025-01-01T00:00:00Z")

    done, calls = module.apply(["queries", "pipeline"], deployed)
    assert done.returncode == 0, done.stderr
    assert sorted(calls) == sorted([_gcloud_args("convoinsight-queries"), _gcloud_args("convoinsight-pipeline")])
    assert module.boosted() == {"queries": "convoinsight-queries", "pipeline": "convoinsight-pipeline"}

    # Nothing deployed since: nothing to do.
    done, calls = module.apply(["queries", "pipeline"], deployed)
    assert done.returncode == 0, done.stderr
    assert calls == []

    # queries deployed again (a new update_time): its service was rewritten, so it is boosted again, alone.
    deployed["queries"]["update_time"] = "2025-01-02T00:00:00Z"
    done, calls = module.apply(["queries", "pipeline"], deployed)
    assert done.returncode == 0, done.stderr
    assert calls == [_gcloud_args("convoinsight-queries")]

    # Boost off: the resources go, gcloud is not called.
    done, calls = module.apply([], deployed)
    assert done.returncode == 0, done.stderr
    assert calls == [] and module.boosted() == {}


@needs_terraform
def test_terraform_fails_the_apply_without_gcloud_and_boosts_on_the_next_one(tmp_path):
    module = _Module(tmp_path)
    deployed = _deployed(queries="2025-01-01T00:00:00Z")

    done, calls = module.apply(["queries"], deployed, gcloud=False)
    assert done.returncode != 0
    assert "gcloud not found on PATH" in done.stderr and "convoinsight-queries" in done.stderr
    assert calls == []

    # The failed instance is tainted: the next apply, with gcloud, boosts it although nothing was deployed.
    done, calls = module.apply(["queries"], deployed)
    assert done.returncode == 0, done.stderr
    assert calls == [_gcloud_args("convoinsight-queries")]


@needs_terraform
def test_terraform_refuses_to_boost_a_function_the_module_does_not_deploy(tmp_path):
    module = _Module(tmp_path)
    done, calls = module.apply(["queries", "nope"], _deployed(queries="2025-01-01T00:00:00Z"))
    assert done.returncode != 0
    assert "Resource precondition failed" in done.stderr and '"nope"' in done.stderr
    assert calls == []  # refused at plan: not even the valid one ran


# --- Cloud Build -----------------------------------------------------------------------------------------------

def _steps() -> dict[str, dict]:
    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    return {step["id"]: step for step in build["steps"]}


def test_the_cloud_build_apply_runs_where_gcloud_is():
    steps = _steps()
    binary, deploy = steps["terraform-binary"], steps["deploy"]
    ids = list(steps)
    assert ids.index("upload") < ids.index("terraform-binary") < ids.index("deploy")
    assert binary["name"] == "${_TERRAFORM_IMAGE}"
    # The deploy step's image has gcloud (the cloud-sdk image) and runs the copied, pinned terraform.
    assert deploy["name"].startswith("gcr.io/google.com/cloudsdktool/cloud-sdk:")
    assert binary["volumes"] == deploy["volumes"] == [{"name": "tools", "path": "/tools"}]
    script = deploy["args"][-1]
    assert "/tools/terraform init" in script and "/tools/terraform apply" in script
    assert "cpu_boost" not in script  # the boost is not switched off for the build


def test_the_build_steps_use_only_known_substitutions():
    # Cloud Build substitutes $NAME and ${NAME}: any other shell variable must be written $$NAME.
    text = (ROOT / "cloudbuild.yaml").read_text()
    declared = set(yaml.safe_load(text)["substitutions"])
    built_in = {"BUILD_ID", "PROJECT_ID", "PROJECT_NUMBER", "LOCATION", "COMMIT_SHA", "SHORT_SHA", "BRANCH_NAME",
                "TAG_NAME", "REPO_NAME", "REVISION_ID", "TRIGGER_NAME"}
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", body.replace("$$", "")))
    assert used <= declared | built_in, f"not substitutions: {sorted(used - declared - built_in)}"


@needs_terraform
def test_the_terraform_binary_step_copies_a_working_terraform(tmp_path):
    args = _steps()["terraform-binary"]["args"]
    assert args[0] == "-c"
    command = args[1].replace("$$", "$").replace("/tools", str(tmp_path))
    env = {"PATH": f"{Path(TERRAFORM).parent}:/usr/bin:/bin", "CHECKPOINT_DISABLE": "1",
           "TF_CLI_CONFIG_FILE": os.devnull, "HOME": str(tmp_path)}
    done = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "terraform").is_file() and "Terraform v" in done.stdout
