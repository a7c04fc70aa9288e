"""`pantau backend run` as a real process refuses a rules file whose selector names nothing in the site
inventory (issue 21, defect 3), and starts with `allow_unmatched: true`, logging the problem once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import yaml

from tests.harness.alerts import rules_config
from tests.harness.mosquitto import Mosquitto
from tests.harness.process import wait_until

TYPO = """\
language: en
rules:
  - id: banjir
    kind: levels
    select: {site: ampal-mufakt, quantity: water_levl}
    levels:
      - {name: Siaga I, trigger: 2.9}
"""


def write_config(broker: Mosquitto, prefix: str, workdir: Path, rules_text: str) -> Path:
    config = rules_config(broker, prefix, workdir, rules_text, storage={"sqlite": {"path": "store.sqlite3"}})
    path = workdir / "backend.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    return path


def backend_run(config: Path) -> list[str]:
    return [sys.executable, "-m", "pantau", "backend", "run", "--config", str(config)]


def test_backend_refuses_to_start_on_a_misspelt_site(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    config = write_config(mosquitto, mqtt_topic_root, tmp_path, TYPO)
    done = subprocess.run(backend_run(config), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    rules_file = tmp_path / "rules.yaml"
    assert f"{rules_file}:5:14: rules[0] 'banjir': select.site: no site 'ampal-mufakt'" in done.stderr
    assert "did you mean 'ampal-mufakat'?" in done.stderr
    assert "did you mean 'water_level'" in done.stderr
    assert "subscribed" not in done.stdout + done.stderr


def test_backend_starts_with_allow_unmatched_and_logs_the_problem_once(
    mosquitto: Mosquitto, mqtt_topic_root: str, tmp_path: Path
) -> None:
    allowed = TYPO.replace("    kind: levels\n", "    kind: levels\n    allow_unmatched: true\n")
    config = write_config(mosquitto, mqtt_topic_root, tmp_path, allowed)
    log = tmp_path / "backend.log"
    with log.open("wb") as out:
        process = subprocess.Popen(backend_run(config), stdout=out, stderr=subprocess.STDOUT)
    try:

        def both_subscribed() -> bool:
            assert process.poll() is None, f"the backend exited at start:\n{log.read_text()}"
            return log.read_text().count("subscribed at") >= 2  # the ingest and the rules subscriptions

        assert wait_until(both_subscribed, timeout=30), log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    text = log.read_text()
    assert text.count("select.site: no site 'ampal-mufakt'") == 1, text
    assert text.count("select.quantity: no channel in the site inventory measures 'water_levl'") == 1, text
    assert "allow_unmatched: true, so the rule runs anyway" in text
