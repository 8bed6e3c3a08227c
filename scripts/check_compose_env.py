"""Check that docker-compose.yml lists every LENSFINDER_* setting with the service's own default.

The compose file passes each setting as ``LENSFINDER_X: ${LENSFINDER_X:-default}``; a default there that
differs from app/config.py's would silently change the service under compose. This reads the compose
text on standard input and compares, setting by setting, ``Settings()`` built from those defaults with
``Settings()`` built from the environment the process has (so run inside the image, the image's own
``LENSFINDER_MODELS_DIR`` counts as the default). Exit 1, naming each problem, when a setting is
missing, unknown, or has another default.

    podman run --rm -i IMAGE python -c "$(cat scripts/check_compose_env.py)" < docker-compose.yml
    .venv/bin/python scripts/check_compose_env.py < docker-compose.yml  # in a checkout (models_dir,
                                                                         # the image's path, not compared)
"""

from __future__ import annotations

import os
import re
import sys

from app.config import Settings

LINE = re.compile(r"^\s+(LENSFINDER_[A-Z0-9_]+):\s*\"?\$\{(LENSFINDER_[A-Z0-9_]+):-([^}]*)\}\"?\s*$", re.M)


def main() -> int:
    text = sys.stdin.read()
    declared: dict[str, str] = {}
    problems: list[str] = []
    for key, var, default in LINE.findall(text):
        if key != var:
            problems.append(f"{key} takes its value from ${{{var}}}")
        declared[key] = default

    prefix = Settings.model_config.get("env_prefix") or "LENSFINDER_"

    fields = {prefix + name.upper(): name for name in Settings.model_fields}
    for key in sorted(fields.keys() - declared.keys()):
        problems.append(f"{key} is a setting of app/config.py but not in the compose file")
    for key in sorted(declared.keys() - fields.keys()):
        problems.append(f"{key} is in the compose file but not a setting of app/config.py")

    # Defaults: the settings from this process's environment with every other LENSFINDER_ variable
    # removed except LENSFINDER_MODELS_DIR (which the image sets).
    own = {k: v for k, v in os.environ.items() if not k.startswith(prefix) or k == prefix + "MODELS_DIR"}
    os.environ.clear()
    os.environ.update(own)
    defaults = Settings()
    os.environ.update({k: v for k, v in declared.items() if k in fields})
    composed = Settings()
    skip = set() if prefix + "MODELS_DIR" in own else {prefix + "MODELS_DIR"}
    for key, name in sorted(fields.items()):
        if key in declared and key not in skip and getattr(defaults, name) != getattr(composed, name):
            problems.append(
                f"{key}: the compose default {declared[key]!r} gives {getattr(composed, name)!r}, "
                f"the service's default is {getattr(defaults, name)!r}"
            )

    if problems:
        print("docker-compose.yml and app/config.py disagree:", *problems, sep="\n  ")
        return 1
    print(f"docker-compose.yml lists all {len(fields)} LENSFINDER_ settings with the service's defaults")
    return 0


if __name__ == "__main__":
    sys.exit(main())
