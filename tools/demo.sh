#!/bin/sh
# make demo: runs the embedded demo model. Arrives with the demo-model issue.
if [ ! -f models/ds4-demo-q2.gguf ]; then
    echo "demo: the embedded demo model (models/ds4-demo-q2.gguf) is not in the tree yet."
    exit 1
fi
exec build/ds4 run -m models/ds4-demo-q2.gguf --raw -p "ROMEO:" -n 120
