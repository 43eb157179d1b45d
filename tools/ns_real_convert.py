"""Convert kernel sources from float to ns_real (Network(precision="double"), issue 12).

Run from the repository root: ``python tools/ns_real_convert.py [files...]`` (default: the
files below). Idempotent: a converted file is left as it is. The rules, mechanical:

1. the word ``float`` (a C type: declarations, parameters, casts) becomes ``ns_real``, except
   in a pointer declaration whose name ends in ``cdf`` (the float32 Poisson CDF tables, random
   numbers stay float32 in either precision);
2. the float-only math and rounding intrinsics become the ns_ names that follow ns_real
   (kernels/common.cuh): expf expm1f logf sqrtf fabsf fminf fmaxf -> ns_exp ns_expm1 ns_log
   ns_sqrt ns_fabs ns_fmin ns_fmax; __fmul_rn __fadd_rn __fsub_rn __fdiv_rn -> ns_mul_rn
   ns_add_rn ns_sub_rn ns_div_rn;
3. literals stay as written: the kernels' literals (0.0f, 0.5f, 1.0f, 2.0f...) are exact in
   float, so they are the same value in double; a literal that is not exact must be written
   NS_LIT(<float text>f, <double text>) by hand (generated code does so, models/codegen.py).

Files never converted: common.cuh, compat_host.h (they define the types), philox.cuh,
random.cu and inputs.cu (random numbers and the Poisson sources' float32 probabilities).
"""

import re
import sys
from pathlib import Path

FILES = ["kernels/neuron.cuh", "kernels/neuron_model.cu.j2",
         "kernels/step.cuh", "kernels/propagate.cu", "kernels/record.cu", "kernels/connect.cu",
         "kernels/plasticity.cu.j2"]
CALLS = {"expf": "ns_exp", "expm1f": "ns_expm1", "logf": "ns_log", "sqrtf": "ns_sqrt",
         "fabsf": "ns_fabs", "fminf": "ns_fmin", "fmaxf": "ns_fmax",
         "__fmul_rn": "ns_mul_rn", "__fadd_rn": "ns_add_rn", "__fsub_rn": "ns_sub_rn",
         "__fdiv_rn": "ns_div_rn"}
_FLOAT = re.compile(r"\bfloat\b(?!\s*\*\s*(?:__restrict__\s*)?\w*cdf\b)")
_CALL = re.compile(r"\b(" + "|".join(re.escape(k) for k in CALLS) + r")(?=\s*\()")


def convert(text: str) -> str:
    text = _FLOAT.sub("ns_real", text)
    return _CALL.sub(lambda m: CALLS[m.group(1)], text)


if __name__ == "__main__":
    for name in sys.argv[1:] or FILES:
        path = Path(name)
        old = path.read_text(encoding="utf-8")
        new = convert(old)
        if new != old:
            path.write_text(new, encoding="utf-8")
            print(f"{name}: converted")
