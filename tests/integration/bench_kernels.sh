#!/bin/sh
# ds4 bench kernels runs end to end on small sizes: CSV header, one row per
# type x thread count with positive throughput, fractions of the same-run
# triad and read-only stream; the --resident form; and bad options rejected
# with a message.
set -eu
out="$DS4_TMP/bench.csv"
"$DS4_BIN" bench kernels --csv --types Q8_0,IQ2_XXS,F16 --shape 64x512 --pool-mb 4 --triad-mb 8 \
    --reps 2 --seconds 0.01 --threads 2 >"$out"
head -1 "$out" | grep -q "^type,rows,cols,threads,gbs_best,gbs_median,triad_best,triad_median,frac_best,frac_median,us_per_call,point_triad_best,point_frac_best,read_best,read_frac_best,batch$"
[ "$(wc -l <"$out")" -eq 7 ]
for t in Q8_0 IQ2_XXS F16; do
    for thr in 1 2; do
        grep -q "^$t,64,512,$thr," "$out" || { echo "missing $t threads $thr"; cat "$out"; exit 1; }
    done
done
# Every throughput and triad figure is a positive number; --shape is one
# matrix per call.
awk -F, 'NR > 1 && !($5 > 0 && $6 > 0 && $7 > 0 && $9 > 0 && $12 > 0 && $13 > 0 && $14 > 0 && $15 > 0 && $16 == 1) { print "bad row: " $0; bad = 1 } END { exit bad }' "$out"
# The table form names the triad and the SIMD level.
"$DS4_BIN" bench kernels --types Q8_0 --shape 16x256 --pool-mb 1 --triad-mb 4 --reps 1 --seconds 0.01 \
    --threads 1 >"$DS4_TMP/table"
grep -q '^triad' "$DS4_TMP/table"
grep -q '^read-only stream' "$DS4_TMP/table"
# --resident: one row per token count, positive GB/s; on x86-64 and AArch64
# (a clock to divide by) positive cycles per 256 weights, best <= median.
res="$DS4_TMP/resident.csv"
"$DS4_BIN" bench kernels --resident --csv --types Q8_0 --shape 64x512 --reps 3 --seconds 0.01 >"$res"
head -1 "$res" | grep -q "^type,rows,cols,tokens,gbs_best,gbs_median,ns_per_row,cycles_per_256_best,cycles_per_256_median$"
[ "$(wc -l <"$res")" -eq 4 ]
case "$(uname -m)" in
x86_64 | aarch64) awk -F, 'NR > 1 && !($5 > 0 && $8 > 0 && $8 <= $9) { print "bad row: " $0; bad = 1 } END { exit bad }' "$res" ;;
*) awk -F, 'NR > 1 && !($5 > 0) { print "bad row: " $0; bad = 1 } END { exit bad }' "$res" ;;
esac
if "$DS4_BIN" bench kernels --types Q9_9 2>"$DS4_TMP/err"; then echo "accepted a bad type"; exit 1; fi
grep -q "Q9_9" "$DS4_TMP/err"
if "$DS4_BIN" bench kernels --threads 0 2>"$DS4_TMP/err"; then echo "accepted --threads 0"; exit 1; fi
if "$DS4_BIN" bench kernels --types Q4_K --shape 8x100 2>"$DS4_TMP/err"; then echo "accepted 100 columns for Q4_K"; exit 1; fi
grep -q "100 columns" "$DS4_TMP/err"
echo ok
