"""Invite a patient to each session by email, then send only what changed.

    python examples/invitations.py

Builds the IV example plan into ``out/``, writes one invitation per session
as an ``.eml`` file into ``out/mail/`` (``--smtp HOST:PORT`` would send them
instead), moves one session, and writes again: this time only the update for
the moved session. The plan's history records what was written, so each run
makes only what changed since the last. Runs from any folder.
"""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
PATIENT = "sam.rivera@example.org"


def ketaplan(*arguments: str) -> list[str]:
    """Run the ketaplan command line; its output lines."""
    result = subprocess.run(
        [sys.executable, "-m", "ketaplan", *arguments],
        capture_output=True,
        text=True,
        check=False,
        # The generation time: the plan's sessions are all still to come then.
        env={**os.environ, "SOURCE_DATE_EPOCH": "1795132800"},
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr.strip())
    return result.stdout.splitlines()


def show(paths: list[str]) -> None:
    for path in paths:
        message = email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)
        print(f"  {Path(path).name}: {message['Subject']}")


def main() -> None:
    out, mail = Path("out"), Path("out") / "mail"
    ketaplan("build", str(EXAMPLES / "iv-induction.toml"), "--out", str(out))
    saved = out / "lakeside-iv-0107.json"

    first = ketaplan("invite", str(saved), "--to", PATIENT, "--out", str(mail))
    print(f"{len(first)} invitations written:")
    show(first)

    print(ketaplan("invite", str(saved), "--to", PATIENT, "--out", str(mail))[0])

    ketaplan(
        "reschedule",
        str(saved),
        "maintenance-01",
        "--to",
        "2027-02-02T14:00",
        "--reason",
        "patient asked for an afternoon",
    )
    update = ketaplan("invite", str(saved), "--to", PATIENT, "--out", str(mail))
    print("after moving maintenance-01:")
    show(update)


if __name__ == "__main__":
    main()
