"""The running agent is entered by exec from ``rackroute agent`` and never holds the CLI (typer,
click, rich) in memory; bad entry arguments are a message and exit status 2, not a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

RUNNING_AGENT_IMPORTS = """
import sys
import rackroute.cli.agent_run
from rackroute.agent.node_agent import AgentOptions, NodeAgent
from rackroute.agent.speaker_bridge import BridgeOptions
from rackroute.daemon.logs import configure_logging
from rackroute.datastore import open_store
from rackroute.api.metrics import MetricsServer
from rackroute.api.metrics_agent import agent_metrics
from rackroute.cli.agent_control import agent_control_api
print(sorted(name for name in ("typer", "click", "rich") if name in sys.modules))
"""


def test_what_the_running_agent_imports_holds_no_cli_library() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUNNING_AGENT_IMPORTS], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_entry_without_the_agents_options_says_how_to_start_it() -> None:
    for argv in ([], ["not json"], [json.dumps({"datastore": "sqlite:///x"})]):
        result = subprocess.run(
            [sys.executable, "-m", "rackroute.cli.agent_run", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        assert "rackroute agent --node NAME" in result.stderr
        assert "Traceback" not in result.stderr
