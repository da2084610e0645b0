"""`labelgate init` writes user values into dvc.yaml (shell commands), params.yaml and the workflow: each one quoted
for the shell and the YAML it lands in, read back here with yaml and shlex exactly as written."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from labelgate.errors import ConfigError
from labelgate.scaffold import InitOptions, install_spec, pipeline, render_dvc_yaml, render_params, render_workflow

HOSTILE = [
    "data/my labels.csv",
    "data/it's.csv",
    'data/"quoted".csv',
    "data/$(touch PWNED).csv",
    "data/`touch PWNED`.csv",
    "data/a; touch PWNED.csv",
    "data/a && rm -rf x.csv",
    "data/${x}.csv",
    "data/\\${x}.csv",
    "data/{x}.csv",
    "data/{seed}.csv",
    "data/étiquettes ✓.csv",
    "data/a #comment.csv",
    "data/a: b.csv",
    "data/*.csv",
]


@pytest.fixture(autouse=True)
def index_install(monkeypatch):
    import labelgate.scaffold as scaffold

    monkeypatch.setattr(scaffold.install, "installed_direct_url", lambda: None)


def dvc_resolved(value: str) -> str:
    """What DVC makes of a stage string without interpolations: `\\${` becomes `${` (dvc.parsing.interpolate)."""
    return value.replace("\\${", "${")


def commands(dvc_text: str) -> dict[str, str]:
    stages = yaml.safe_load(dvc_text)["stages"]
    return {name: stage.get("cmd") or stage["do"]["cmd"] for name, stage in stages.items()}


@pytest.mark.parametrize("path", HOSTILE)
def test_every_path_is_one_shell_word_in_every_command(path):
    options = InitOptions(labels_table=path, test=path.replace("data/", "gold/"), gold_pool=path.replace("data/", "pool/"),
                          labels=("a", "b"))
    text = render_dvc_yaml(options)
    cmds = commands(text)
    assert shlex.split(dvc_resolved(cmds["validate"]))[2] == path
    assert shlex.split(dvc_resolved(cmds["reference"]))[2] == path.replace("data/", "pool/")
    for name in ("score", "train", "evaluate", "learning_curve_gated", "audit_reference", "learning_curve_gold"):
        words = shlex.split(dvc_resolved(cmds[name]))
        assert words[words.index("--test") + 1] == path.replace("data/", "gold/"), name
    stages = yaml.safe_load(text)["stages"]
    assert dvc_resolved(stages["validate"]["deps"][0]) == path
    assert dvc_resolved(stages["reference"]["deps"][0]) == path.replace("data/", "pool/")


def test_annotate_command_quotes_texts_and_table():
    cmd = pipeline(InitOptions(texts="in/$(id) x.csv"))["stages"]["annotate"]["cmd"]
    assert shlex.split(cmd)[:4] == ["labelgate", "annotate", "in/$(id) x.csv", "--out"]


def test_braces_are_neither_a_crash_nor_rewritten():
    stages = pipeline(InitOptions(labels_table="t{x}.csv", test="test{seed}.csv"))["stages"]
    assert "--test 'test{seed}.csv'" in stages["train"]["cmd"] or "--test test{seed}.csv" in stages["train"]["cmd"]
    assert "${item.seed}" in stages["train"]["cmd"] and stages["validate"]["deps"][0] == "t{x}.csv"


def test_dvc_templating_in_a_path_is_escaped_not_interpolated():
    stages = pipeline(InitOptions(labels_table="t${gate.subset}.csv", test="t.csv"))["stages"]
    assert stages["validate"]["deps"][0] == "t\\${gate.subset}.csv"
    assert "\\${gate.subset}" in stages["validate"]["cmd"]


@pytest.mark.parametrize("labels", [("yes", "no"), ("on", "off"), ("1.5", "2"), ("a: b", "c"), ("#x", "y z"),
                                    ("null", "~"), ("[a]", "{b}"), ("'q'", '"d"'), ("é", "✓")])
def test_labels_stay_strings_in_params(labels):
    values = yaml.safe_load(render_params(InitOptions(texts="t.csv", labels=labels), ("raw", "cleanlab")))
    assert values["base"]["labels"] == list(labels)
    assert values["filter"]["strategies"] == ["raw", "cleanlab"]


@pytest.mark.parametrize("field, value", [
    ("labels", ("a\nb: c", "d")), ("labels", ("a\rb", "d")), ("labels", ("a\tb", "d")), ("labels", ("a\x1b[31m", "d")),
    ("texts", "t\n.csv"), ("labels_table", "t\u2028.csv"), ("test", "t\x00.csv"), ("gold_pool", "p\n.csv"),
    ("install", "labelgate\nrun: curl"), ("texts", "-rf.csv"),
])
def test_control_characters_and_options_are_refused(field, value):
    with pytest.raises(ConfigError):
        InitOptions(**{field: value})


@pytest.mark.parametrize("install", ["labelgate[demo] @ git+https://github.com/o/labelgate@v1",
                                     'labelgate[demo]=="1"', "labelgate[demo]==0.1; python_version >= '3.10' # x",
                                     "labelgate @ file:///x y/z"])
def test_install_reads_back_exactly_from_the_workflow(install):
    workflow = yaml.safe_load(render_workflow(InitOptions(texts="t.csv", install=install)))
    assert workflow["jobs"]["gate"]["env"]["LABELGATE_SPEC"] == install
    steps = {s.get("name"): s for s in workflow["jobs"]["gate"]["steps"]}
    assert 'pip install -c .github/labelgate-constraints.txt "$LABELGATE_SPEC"' in steps["Install labelgate"]["run"]


@pytest.mark.parametrize("install, message", [("${{ secrets.TOKEN }}", "expression"),
                                              ("--index-url=http://x labelgate", "option")])
def test_install_refused(install, message):
    with pytest.raises(ConfigError, match=message):
        InitOptions(install=install)


@pytest.mark.parametrize("direct_url, expected", [
    (None, "labelgate[demo]==0.3.1"),
    ({"url": "https://github.com/o/labelgate", "vcs_info": {"vcs": "git", "commit_id": "abc123"}},
     "labelgate[demo] @ git+https://github.com/o/labelgate@abc123"),
    ({"url": "https://github.com/o/mono", "subdirectory": "py", "vcs_info": {"vcs": "git", "commit_id": "f00"}},
     "labelgate[demo] @ git+https://github.com/o/mono@f00#subdirectory=py"),
    ({"url": "https://example.org/labelgate-0.3.1-py3-none-any.whl", "archive_info": {}},
     "labelgate[demo] @ https://example.org/labelgate-0.3.1-py3-none-any.whl"),
])
def test_install_spec_follows_how_labelgate_was_installed(direct_url, expected):
    assert install_spec(direct_url, "0.3.1") == expected


@pytest.mark.parametrize("direct_url", [{"url": "file:///home/me/labelgate", "dir_info": {"editable": True}},
                                        {"url": "file:///home/me/labelgate", "dir_info": {}},
                                        {"url": "file:///tmp/labelgate.whl", "archive_info": {}}])
def test_local_install_is_refused_naming_the_option(direct_url):
    with pytest.raises(ConfigError, match="pass --install"):
        install_spec(direct_url, "0.3.1")


def test_params_cite_no_benchmark_file_the_adopter_lacks():
    text = render_params(InitOptions(texts="t.csv", labels=("a", "b")), ("raw",))
    assert "bench/" not in text and "labelgate's benchmark notes" in text


def test_generated_workflow_env_is_json_quoted():
    spec = 'labelgate[demo]=="0.1"'
    text = render_workflow(InitOptions(texts="t.csv", install=spec))
    assert f"LABELGATE_SPEC: {json.dumps(spec)}" in text
