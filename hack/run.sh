#!/bin/sh
# `make run`: the local demo. See README.md.
echo "make run: the local demo (kubesim, workers, controller) is not built yet; see README.md status." >&2
exit 0
