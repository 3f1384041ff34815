"""``python -m trainer [key=value ...]``: train one model; a grid or sweep with ``--multirun``."""

import gc
import os
import sys
import warnings

import hydra
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

import trainer.hydra_resolvers  # noqa: F401  (${trainer.direction:...} in the configs)
from runkit import startup_gc
from runkit.signals import (
    exit_code,
    ignore_further_interrupts,
    interrupt_name,
    redeliver_swallowed_interrupts,
    sigterm_as_interrupt,
)
from trainer import CONFIG_DIR
from trainer.errors import UserError

# The trainer's conf/hydra/sweeper/optuna.yaml extends the sweeper plugin's config of the same
# name (its defaults list names it: the file works with or without Hydra's deprecated matching
# of a file to a ConfigStore schema of the same name, which only warns here).
warnings.filterwarnings("ignore", message=r"\s*'hydra/sweeper/optuna' is validated against "
                        "ConfigStore schema", category=UserWarning)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float | tuple[float, ...]:
    # Imported here, not above: a sweep's fork server starts before the app (MLflow,
    # matplotlib, numba: 2.5 s) is imported in this process (sweeps/_fork_server.py).
    from trainer.app import run_cli

    return run_cli(cfg)


def one_line(message: str) -> str:
    """Hydra's multi-line messages (a wrong override, an unknown group option) as one line."""
    parts: list[str] = []
    options: list[str] = []
    for raw in message.splitlines():
        line = raw.strip()
        if line.startswith("Config search path"):
            break  # the rest lists where configs are searched: not what the user got wrong
        if not line or line.startswith(("full_key:", "object_type=", "reference_type=")):
            continue
        if raw.startswith("\t"):
            options.append(line)  # the items of "Available options in 'group':"
            continue
        parts.append(line.rstrip(".:"))
    if options:
        parts[-1] += ": " + ", ".join(options)
    return "; ".join(parts)


def cli() -> None:
    """Run the Hydra app; an input error ends with one line on stderr and exit code 1."""
    startup_gc.pause()  # until training starts: 0.8 s of a sweep's start-up (runkit/startup_gc.py)
    # Hydra prints exceptions with a stack trace; raising them here lets us print one line.
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    redeliver_swallowed_interrupts()  # Ctrl-C inside a GC callback: not printed, not lost
    try:
        with sigterm_as_interrupt():  # SIGTERM and SIGHUP stop a command as Ctrl-C does
            main()
    except KeyboardInterrupt as interrupt:  # outside a run (start-up, a Hydra grid's launcher)
        ignore_further_interrupts()
        kept = getattr(interrupt, "kept", None)
        print(f"interrupted ({interrupt_name(interrupt)})" + (f": {kept}" if kept else ""),
              file=sys.stderr, flush=True)
        raise SystemExit(exit_code(interrupt)) from None
    except UserError as error:  # raised from a job of a --multirun grid
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except (HydraException, OmegaConfBaseException) as error:
        from trainer.interpolations import interpolation_error

        unresolved = interpolation_error(error, overrides=sys.argv[1:])
        if unresolved is not None:  # `hydra.run.dir=${nope}`: the key, not only Hydra's words
            print(f"error: {unresolved}", file=sys.stderr)
            raise SystemExit(1) from None
        message = str(error)
        if isinstance(error.__cause__, OmegaConfBaseException):  # e.g. "Key 'x' is not in struct"
            message = f"{message}\n{str(error.__cause__).splitlines()[0]}"
        from trainer.key_hints import did_you_mean

        print(f"error: {did_you_mean(message, CONFIG_DIR) or one_line(message)}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        # The work is done and recorded (runs ended, files closed). Freezing the heap spares
        # the interpreter's final garbage collection over everything MLflow, SQLAlchemy,
        # Optuna and matplotlib left behind: 2.5-3 s at the exit of a sweep.
        gc.freeze()


if __name__ == "__main__":
    cli()
