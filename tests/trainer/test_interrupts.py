"""SIGTERM turned into KeyboardInterrupt around a training run, unless the program handles it."""

from __future__ import annotations

import os
import signal

import pytest

from trainer.interrupts import sigterm_as_interrupt


def test_sigterm_raises_keyboard_interrupt_inside_the_block() -> None:
    # the default disposition (terminate) becomes an interrupt, and comes back afterwards
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with pytest.raises(KeyboardInterrupt, match="signal 15"), sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_handler_the_program_installed_is_kept() -> None:
    # a sweep worker's own handler also sets the flag that survives a swallowed interrupt
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
