#!/usr/bin/env bash
# Prints the e2e suite's summary table from the case lines the tests appended to FILE
# (e2e/src/report.rs): case, result, seconds, objects written, objects read back intact,
# objects lost, reads during operations, failed reads, controller kills; then the totals and
# why each case that could not run here did not.
set -euo pipefail
file=${1:?usage: summary.sh FILE}
if [[ ! -s $file ]]; then
  echo "e2e summary: no case recorded in $file"
  exit 0
fi
echo "e2e summary ($file):"
sort "$file" | awk -F'\t' '
  BEGIN {
    fmt = "%-80s %-7s %6s %8s %9s %5s %7s %7s %6s\n"
    printf fmt, "case", "result", "secs", "written", "verified", "lost", "reads", "failed", "kills"
  }
  {
    printf fmt, $1, $2, $3, $4, $5, $6, $7, $8, $9
    n++; if ($2 == "not-run") { skipped++; why[$1] = $10 } else if ($2 != "passed") bad++
    w += $4; v += $5; l += $6; r += $7; f += $8; k += $9
  }
  END {
    printf fmt, "total: " n " cases, " bad + 0 " failed, " skipped + 0 " not run", "", "", w, v, l, r, f, k
    for (c in why) print "not run here: " c ": " why[c]
  }'
