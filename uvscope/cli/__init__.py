"""The ``uvscope`` command: a thin layer over the engine, the analysis and the tools.

Each command group lives in its own module under ``uvscope.cli`` and is imported only when
used, so ``uvscope --help`` stays fast and a missing optional dependency (Qt, pco) only
affects the command that needs it.
"""

from __future__ import annotations

import importlib
import sys

import click

from uvscope import __version__
from uvscope.crashlog import save_traceback
from uvscope.errors import UvscopeError

# command name -> (module, attribute, short help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "scan": ("uvscope.cli.scan", "scan", "Scan a slide region (the configured rig by default)."),
    "batch": ("uvscope.cli.scan", "batch", "Run a list of scans one after another."),
    "gui": ("uvscope.cli.gui", "gui", "Open the operator's window (configured rig by default)."),
    "simulate": ("uvscope.cli.simulate", "simulate", "Export simulated tiles with ground truth."),
    "devices": ("uvscope.cli.devices", "devices", "Check and home a rig's devices."),
    "sim": ("uvscope.cli.sim_serve", "sim", "Serve the FW102C and APT emulators (sim serve)."),
    "analyze": ("uvscope.cli.analyze", "analyze", "Re-run the analysis on a saved scan."),
    "report": ("uvscope.cli.report", "report", "Write the HTML report of an analysed scan."),
    "focus": (
        "uvscope.cli.focus",
        "focus",
        "Focus tools: measure focal offsets (focus calibrate).",
    ),
    "train": ("uvscope.cli.train", "train", "Train a segmentation, staining or classifier model."),
    "evaluate": ("uvscope.cli.train", "evaluate", "Measure a trained model on held-out data."),
    "pseudocolor": (
        "uvscope.cli.pseudocolor",
        "pseudocolor",
        "Pseudocolour a 260/280/300 nm scan.",
    ),
    "config": (
        "uvscope.cli.config_schema",
        "config",
        "Scan and rig file formats (config schema scan|rig).",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        """The error edge: every error becomes one message and an exit status, never a
        traceback. uvscope's own errors (bad input, a damaged folder, a failed device) exit
        2; an unexpected one (a bug) prints one line and where its traceback was saved."""
        try:
            return super().invoke(ctx)
        except UvscopeError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.secho("interrupted", fg="yellow", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as err:  # noqa: BLE001 - the edge: a bug, reported, not a traceback
            path = save_traceback(err)
            where = f"the full traceback is in {path}" if path else "no log folder was writable"
            click.secho(
                f"error: unexpected {type(err).__name__}: {err} (this is a bug in "
                f"uvscope; {where})",
                fg="red",
                err=True,
            )
            sys.exit(2)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="uvscope")
@click.option("-v", "--verbose", count=True, help="More messages on stderr: -v info, -vv debug.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default=None,
    help="Level of the messages on stderr (overrides -v). Each scan folder also gets "
    "uvscope.log at info level.",
)
def main(verbose: int, log_level: str | None) -> None:
    """Control and analysis for label-free deep-UV hematology microscopes.

    Without --rig, a command uses the rig named by $UVSCOPE_RIG or by rig = "..." in
    ~/.config/uvscope/config.toml, else the built-in simulated rig (--rig sim asks for it).
    """
    from uvscope.cli.streams import tolerate_closed_pipes
    from uvscope.logs import configure, level_from

    tolerate_closed_pipes()  # first: the log handler keeps the stream it is given
    configure(level_from(verbose, log_level))
