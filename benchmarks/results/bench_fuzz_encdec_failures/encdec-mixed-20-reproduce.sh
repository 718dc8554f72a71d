#!/bin/sh
# Reproduces a not_stored failure of method 'encdec' found by factmlp fuzz.
# A refusal or crash shows in the build step; 'not stored' in factmlp verify (exit 1).
set -e
cd "$(dirname "$0")"
python - <<'EOF'
from numerics.factset import FactSet
from numerics.methods import get_method
factset = FactSet.load('encdec-mixed-20.npz')
get_method('encdec').build(factset, 14, seed=0).save('m.safetensors')
EOF
factmlp verify encdec-mixed-20.npz --mlp m.safetensors --dtype float32
