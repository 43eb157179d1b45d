"""PyNN standard types that neurosim cannot run: each raises ``NotImplementedError`` naming
what is missing and the closest supported type, instead of an ``AttributeError`` on the
module."""

from __future__ import annotations

REASONS = {
    "IF_curr_alpha": "neurosim has no alpha-shaped synaptic currents; use IF_curr_exp",
    "IF_cond_alpha": "neurosim has no alpha-shaped synaptic conductances; use IF_cond_exp",
    "IF_cond_exp_gsfa_grr": "neurosim has no spike-frequency adaptation / relative "
                            "refractoriness conductances; use IF_cond_exp",
    "EIF_cond_alpha_isfa_ista": "neurosim's AdEx has no alpha-shaped conductances; use "
                                "EIF_cond_exp_isfa_ista (exponential conductances)",
    "HH_cond_exp": "neurosim has no Hodgkin-Huxley model",
    "IF_facets_hardware1": "neurosim does not emulate the FACETS hardware neuron",
    "SpikeSourceGamma": "neurosim has Poisson and array spike sources only; use "
                        "SpikeSourcePoisson or SpikeSourceArray",
    "SpikeSourcePoissonRefractory": "neurosim's Poisson source has no dead time; use "
                                    "SpikeSourcePoisson",
    "SpikeSourceInhGamma": "neurosim has Poisson and array spike sources only",
    "TsodyksMarkramSynapse": "neurosim has no short-term plasticity; use StaticSynapse or "
                             "STDPMechanism",
    "SimpleStochasticSynapse": "neurosim's synapses are deterministic",
    "StochasticTsodyksMarkramSynapse": "neurosim has no short-term plasticity",
    "MultiQuantalSynapse": "neurosim has no short-term plasticity",
    "ElectricalSynapse": "neurosim has no gap junctions",
    "ACSource": "neurosim's current inputs are DC and step currents; sample the sine into a "
                "StepCurrentSource",
    "NoisyCurrentSource": "neurosim's current inputs are DC and step currents; draw the "
                          "noise into a StepCurrentSource",
    "AdditivePotentiationMultiplicativeDepression": "neurosim's STDP is additive or "
                                                    "multiplicative for both signs",
    "GutigWeightDependence": "neurosim's STDP is additive or multiplicative",
    "Vogels2011Rule": "neurosim has no inhibitory plasticity rule",
    "PointNeuron": "neurosim.pynn supports PyNN's standard cell types only, not composed "
                   "neuron models",
    "LIF": "neurosim.pynn supports PyNN's standard cell types only, not composed neuron models",
    "AdExp": "neurosim.pynn supports PyNN's standard cell types only, not composed models",
    "CurrExpPostSynapticResponse": "neurosim.pynn supports PyNN's standard cell types only",
    "CondExpPostSynapticResponse": "neurosim.pynn supports PyNN's standard cell types only",
    "AlphaPSR": "neurosim.pynn supports PyNN's standard cell types only",
    "MultiCompartmentNeuron": "neurosim has point neurons only",
}


def _unsupported(name: str, reason: str) -> type:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"neurosim.pynn: {name} is not supported: {reason}")
    return type(name, (), {"__init__": __init__, "__doc__": f"Not supported: {reason}."})


for _name, _reason in REASONS.items():
    globals()[_name] = _unsupported(_name, _reason)

__all__ = list(REASONS)
