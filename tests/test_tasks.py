"""The learning tasks converge (small, fast versions; the full ones run in the benchmarks)."""

from __future__ import annotations

import json

import pytest

from neurosim.tasks import (HomeostasisParams, PatternParams, SequenceParams,
                            homeostatic_adaptation, pattern_learning, sequence_learning)
from neurosim.tasks.pattern import epochs_to_converge





def _fits_report(name: str, record: dict) -> None:
    """The record is plain JSON and has what the benchmark report reads."""
    from neurosim.report.render import validate_results
    json.dumps(record)
    rec = dict(record, device=record["backend"])
    validate_results({"schema": 1, "run_id": "t", "created": "2000-01-01T00:00:00+00:00",
                      "quick": True, "system": {"cpu": {"model": "t"}, "gpus": []},
                      "throughput": [], "memory": [], "convergence": {name: rec},
                      "reference_networks": [], "peers": [], "raster": None,
                      "gpu_tests": None})


def test_epochs_to_converge_needs_two_more_epochs():
    assert epochs_to_converge([0.5, 0.95, 0.9, 0.92], 0.9) == 2
    assert epochs_to_converge([0.95, 0.8, 0.95, 0.95, 0.91], 0.9) == 3
    assert epochs_to_converge([0.95, 0.95], 0.9) is None          # not confirmed yet
    assert epochs_to_converge([0.2, 0.95, 0.95, 0.85], 0.9) is None


def test_pattern_learning_converges(device):
    """5 patterns, 10 winner-take-all neurons: accuracy >= 90% within a few epochs, held for
    two more (the full task: 10 patterns, in the benchmark)."""
    p = PatternParams(n_patterns=5, n_inputs=60, n_active=12, n_neurons=10,
                      n_label=1, n_test=2, max_epochs=8, dt=0.5)
    r = pattern_learning(seed=1, device=device, params=p)
    assert r.converged and r.epochs_to_converge <= 5, r.accuracy_curve
    assert r.accuracy_curve[-1] >= 0.9
    _fits_report("pattern_learning", r.to_dict())


def test_sequence_learning_replays_after_training(device):
    """Cueing the first of 5 assemblies replays the others in order after training, not before."""
    p = SequenceParams(n_assemblies=5, n_epochs=6, n_cues=2, dt=0.5)
    r = sequence_learning(seed=1, device=device, params=p)
    assert r.recall_before <= 0.25
    assert r.recall_after >= 0.9, r.curve
    assert r.epochs_to_90 is not None and r.epochs_to_90 <= 6
    _fits_report("sequence_learning", r.to_dict())


def test_homeostatic_adaptation_returns_to_target(device):
    """After the input rate doubles and halves again, the rate is back within 10% of the target
    in under 2.5 s of simulated time each time."""
    p = HomeostasisParams(n_neurons=300, n_inputs=3000, durations=(3000.0, 3000.0, 3000.0),
                          dt=0.5)
    r = homeostatic_adaptation(seed=1, device=device, params=p)
    assert all(r.settled), r.adaptation_time_s
    assert max(r.adaptation_time_s) < 2.5
    for rate in r.final_rates:
        assert rate == pytest.approx(p.target_rate, rel=0.1)
    assert r.mean_threshold_shift[1] > r.mean_threshold_shift[0] + 2.0   # up step: threshold up
    _fits_report("homeostasis", r.to_dict())
