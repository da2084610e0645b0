"""What the PR workflow installs: this labelgate's version, and the pip requirement that reproduces how it was
installed (a package index pin, or a git URL and commit), checked before it goes into a workflow file."""

from __future__ import annotations

import json

from labelgate.errors import ConfigError
from labelgate.scaffold.checks import checked_value


def installed_version() -> str:
    from labelgate import __version__

    return __version__


def install_spec(direct_url: dict | None, version: str) -> str:
    """The pip requirement the PR workflow installs, from how this labelgate was installed (PEP 610 direct_url.json):
    none (a package index) -> `labelgate[demo]==VERSION`; a VCS checkout -> `labelgate[demo] @ git+URL@COMMIT`; an
    archive URL -> `labelgate[demo] @ URL`; a local folder or editable install -> ConfigError naming --install."""
    if not direct_url:
        return f"labelgate[demo]=={version}"
    url = str(direct_url.get("url") or "")
    subdirectory = direct_url.get("subdirectory")
    fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id") and not url.startswith("file:"):
        return f"labelgate[demo] @ {vcs['vcs']}+{url}@{vcs['commit_id']}{fragment}"
    if "archive_info" in direct_url and url.startswith(("https://", "http://")):
        return f"labelgate[demo] @ {url}{fragment}"
    where = url.removeprefix("file://") or "a local folder"
    kind = "editable" if (direct_url.get("dir_info") or {}).get("editable") else "local"
    raise ConfigError(f"labelgate is installed from {where} ({kind}), which the PR workflow cannot install: pass "
                      f"--install with a requirement it can reach, e.g. --install 'labelgate[demo]=={version}' or "
                      "'labelgate[demo] @ git+https://github.com/OWNER/labelgate@COMMIT'")


def installed_direct_url() -> dict | None:
    """PEP 610 direct_url.json of the installed labelgate distribution (None: installed from a package index);
    labelgate running from a source tree without being installed counts as a local folder."""
    from importlib import metadata

    try:
        text = metadata.distribution("labelgate").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return {"url": "", "dir_info": {}}
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return {"url": "", "dir_info": {}}
    return data if isinstance(data, dict) else {"url": "", "dir_info": {}}


def default_install_spec(version: str | None = None) -> str:
    """What the workflow pip-installs by default: this labelgate as it was installed here (`install_spec`)."""
    return install_spec(installed_direct_url(), version or installed_version())


def checked_install(spec: str) -> str:
    """--install: one pip requirement, written into the workflow's env (YAML-quoted) and passed to pip quoted."""
    checked_value("--install", spec)
    if spec.lstrip().startswith("-"):
        raise ConfigError(f"--install {spec!r}: starts with '-', which pip reads as an option; give a requirement")
    if "${{" in spec:
        raise ConfigError(f"--install {spec!r}: holds '${{{{', which GitHub Actions would evaluate as an expression")
    return spec
