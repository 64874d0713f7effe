;; RNS arithmetic of threshold decryption (rns-kernel.ts): modular products, SEAL's negacyclic
;; NTT, and the CRT back to signed integers, on 64-bit integers for primes q < 2^52. Built into
;; rns-kernel-wasm.ts by `npm run build:wasm` (cli/dev/build-wasm.ts); CI checks it is current.
;;
;; a·b mod q without a 128-bit product: the quotient is estimated in doubles,
;; k = trunc(a·b·(1/q)), and r = a·b − k·q is computed modulo 2^64 (i64 wraps), which is exact
;; because the true r is small. For a, b < q < 2^52 the double a·b·(1/q) is within 1.5 of the
;; exact a·b/q (which is < 2^52; three roundings of relative error 2^-53 each), so k lies in
;; [floor(a·b/q) − 2, floor(a·b/q) + 1], r in [−q, 3q), and three conditional corrections
;; (one +q, two −q) bring it into [0, q). (Measured over 5·10^7 products near the production primes: the
;; estimate never exceeded the exact quotient by more than 0.5.)
;;
;; Every pointer is a byte address chosen by the caller (8-aligned); arrays are of i64 unless
;; said otherwise.
(module
  (memory (export "memory") 1)

  ;; a·b mod q for 0 ≤ a, b < q < 2^52; qinv = 1/q as a double.
  (func $mulmod (export "mulmod") (param $a i64) (param $b i64) (param $q i64) (param $qinv f64)
    (result i64)
    (local $r i64)
    (local.set $r
      (i64.sub
        (i64.mul (local.get $a) (local.get $b))
        (i64.mul
          (i64.trunc_f64_s
            (f64.mul
              (f64.mul (f64.convert_i64_u (local.get $a)) (f64.convert_i64_u (local.get $b)))
              (local.get $qinv)))
          (local.get $q))))
    (local.set $r
      (select (i64.add (local.get $r) (local.get $q)) (local.get $r)
        (i64.lt_s (local.get $r) (i64.const 0))))
    (local.set $r
      (select (i64.sub (local.get $r) (local.get $q)) (local.get $r)
        (i64.ge_s (local.get $r) (local.get $q))))
    (select (i64.sub (local.get $r) (local.get $q)) (local.get $r)
      (i64.ge_s (local.get $r) (local.get $q))))

  ;; In place, n values at $v: coefficients (natural order) → evaluations (bit-reversed order);
  ;; $roots holds ψ's powers in bit-reversed order (ntt.ts, forwardNtt).
  (func (export "forwardNtt") (param $v i32) (param $roots i32) (param $n i32) (param $q i64)
    (param $qinv f64)
    (local $m i32) (local $t i32) (local $i i32) (local $w i64) (local $j i32) (local $end i32)
    (local $x i64) (local $y i64) (local $s i64) (local $tBytes i32)
    (local.set $m (i32.const 1))
    (local.set $t (i32.shr_u (local.get $n) (i32.const 1)))
    (block $stages
      (loop $stage
        (br_if $stages (i32.ge_u (local.get $m) (local.get $n)))
        (local.set $tBytes (i32.shl (local.get $t) (i32.const 3)))
        (local.set $i (i32.const 0))
        (block $groups
          (loop $group
            (br_if $groups (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $w
              (i64.load (i32.add (local.get $roots)
                (i32.shl (i32.add (local.get $m) (local.get $i)) (i32.const 3)))))
            (local.set $j (i32.add (local.get $v)
              (i32.shl (i32.mul (i32.shl (local.get $i) (i32.const 1)) (local.get $t))
                (i32.const 3))))
            (local.set $end (i32.add (local.get $j) (local.get $tBytes)))
            (block $done
              (loop $butterfly
                (br_if $done (i32.ge_u (local.get $j) (local.get $end)))
                (local.set $x (i64.load (local.get $j)))
                (local.set $y
                  (call $mulmod (i64.load (i32.add (local.get $j) (local.get $tBytes)))
                    (local.get $w) (local.get $q) (local.get $qinv)))
                (local.set $s (i64.add (local.get $x) (local.get $y)))
                (i64.store (local.get $j)
                  (select (i64.sub (local.get $s) (local.get $q)) (local.get $s)
                    (i64.ge_s (local.get $s) (local.get $q))))
                (local.set $s (i64.sub (local.get $x) (local.get $y)))
                (i64.store (i32.add (local.get $j) (local.get $tBytes))
                  (select (i64.add (local.get $s) (local.get $q)) (local.get $s)
                    (i64.lt_s (local.get $s) (i64.const 0))))
                (local.set $j (i32.add (local.get $j) (i32.const 8)))
                (br $butterfly)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $group)))
        (local.set $m (i32.shl (local.get $m) (i32.const 1)))
        (local.set $t (i32.shr_u (local.get $t) (i32.const 1)))
        (br $stage))))

  ;; In place: evaluations (bit-reversed order) → coefficients (natural order); $roots holds
  ;; ψ⁻¹'s powers in bit-reversed order, $inverseDegree is N⁻¹ mod q (ntt.ts, inverseNtt).
  (func (export "inverseNtt") (param $v i32) (param $roots i32) (param $n i32) (param $q i64)
    (param $qinv f64) (param $inverseDegree i64)
    (local $m i32) (local $t i32) (local $i i32) (local $w i64) (local $j i32) (local $end i32)
    (local $x i64) (local $y i64) (local $s i64) (local $tBytes i32)
    (local.set $m (i32.shr_u (local.get $n) (i32.const 1)))
    (local.set $t (i32.const 1))
    (block $stages
      (loop $stage
        (br_if $stages (i32.lt_u (local.get $m) (i32.const 1)))
        (local.set $tBytes (i32.shl (local.get $t) (i32.const 3)))
        (local.set $i (i32.const 0))
        (block $groups
          (loop $group
            (br_if $groups (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $w
              (i64.load (i32.add (local.get $roots)
                (i32.shl (i32.add (local.get $m) (local.get $i)) (i32.const 3)))))
            (local.set $j (i32.add (local.get $v)
              (i32.shl (i32.mul (i32.shl (local.get $i) (i32.const 1)) (local.get $t))
                (i32.const 3))))
            (local.set $end (i32.add (local.get $j) (local.get $tBytes)))
            (block $done
              (loop $butterfly
                (br_if $done (i32.ge_u (local.get $j) (local.get $end)))
                (local.set $x (i64.load (local.get $j)))
                (local.set $y (i64.load (i32.add (local.get $j) (local.get $tBytes))))
                (local.set $s (i64.add (local.get $x) (local.get $y)))
                (i64.store (local.get $j)
                  (select (i64.sub (local.get $s) (local.get $q)) (local.get $s)
                    (i64.ge_s (local.get $s) (local.get $q))))
                (local.set $s (i64.sub (local.get $x) (local.get $y)))
                (i64.store (i32.add (local.get $j) (local.get $tBytes))
                  (call $mulmod
                    (select (i64.add (local.get $s) (local.get $q)) (local.get $s)
                      (i64.lt_s (local.get $s) (i64.const 0)))
                    (local.get $w) (local.get $q) (local.get $qinv)))
                (local.set $j (i32.add (local.get $j) (i32.const 8)))
                (br $butterfly)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $group)))
        (local.set $m (i32.shr_u (local.get $m) (i32.const 1)))
        (local.set $t (i32.shl (local.get $t) (i32.const 1)))
        (br $stage)))
    (local.set $end (i32.add (local.get $v) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $scale
        (br_if $done (i32.ge_u (local.get $v) (local.get $end)))
        (i64.store (local.get $v)
          (call $mulmod (i64.load (local.get $v)) (local.get $inverseDegree) (local.get $q)
            (local.get $qinv)))
        (local.set $v (i32.add (local.get $v) (i32.const 8)))
        (br $scale))))

  ;; out[c] = (radix·high[c] + low[c]) mod q for c < n: high and low are doubles holding
  ;; integers of magnitude below 2^63, radix is the radix's residue mod q.
  (func (export "splitResidues") (param $out i32) (param $high i32) (param $low i32) (param $n i32)
    (param $q i64) (param $qinv f64) (param $radix i64)
    (local $end i32) (local $h i64) (local $l i64) (local $r i64)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $h (i64.rem_s (i64.trunc_f64_s (f64.load (local.get $high))) (local.get $q)))
        (local.set $h
          (select (i64.add (local.get $h) (local.get $q)) (local.get $h)
            (i64.lt_s (local.get $h) (i64.const 0))))
        (local.set $l (i64.rem_s (i64.trunc_f64_s (f64.load (local.get $low))) (local.get $q)))
        (local.set $l
          (select (i64.add (local.get $l) (local.get $q)) (local.get $l)
            (i64.lt_s (local.get $l) (i64.const 0))))
        (local.set $r
          (i64.add (call $mulmod (local.get $h) (local.get $radix) (local.get $q) (local.get $qinv))
            (local.get $l)))
        (i64.store (local.get $out)
          (select (i64.sub (local.get $r) (local.get $q)) (local.get $r)
            (i64.ge_s (local.get $r) (local.get $q))))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $high (i32.add (local.get $high) (i32.const 8)))
        (local.set $low (i32.add (local.get $low) (i32.const 8)))
        (br $next))))

  ;; out[c] = in[c] mod q for c < n, in[c] signed bytes (|in| < q): encryption randomness.
  (func (export "byteResidues") (param $out i32) (param $in i32) (param $n i32) (param $q i64)
    (local $end i32) (local $x i64)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $x (i64.load8_s (local.get $in)))
        (i64.store (local.get $out)
          (select (i64.add (local.get $x) (local.get $q)) (local.get $x)
            (i64.lt_s (local.get $x) (i64.const 0))))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $in (i32.add (local.get $in) (i32.const 1)))
        (br $next))))

  ;; out[c] = in[c] mod q for c < n, in[c] doubles holding integers of magnitude below 2^63.
  (func (export "doubleResidues") (param $out i32) (param $in i32) (param $n i32) (param $q i64)
    (local $end i32) (local $x i64)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $x (i64.rem_s (i64.trunc_f64_s (f64.load (local.get $in))) (local.get $q)))
        (i64.store (local.get $out)
          (select (i64.add (local.get $x) (local.get $q)) (local.get $x)
            (i64.lt_s (local.get $x) (i64.const 0))))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $in (i32.add (local.get $in) (i32.const 8)))
        (br $next))))

  ;; out[c] = in[c] as a double for c < n (residues below 2^53).
  (func (export "toDoubles") (param $out i32) (param $in i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (f64.store (local.get $out) (f64.convert_i64_u (i64.load (local.get $in))))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $in (i32.add (local.get $in) (i32.const 8)))
        (br $next))))

  ;; out[c] = a[c]·b[c] + add[c] mod q for c < n (all reduced; out may be add).
  (func (export "mulAdd") (param $out i32) (param $a i32) (param $b i32) (param $add i32)
    (param $n i32) (param $q i64) (param $qinv f64)
    (local $end i32) (local $r i64)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $r
          (i64.add
            (call $mulmod (i64.load (local.get $a)) (i64.load (local.get $b)) (local.get $q)
              (local.get $qinv))
            (i64.load (local.get $add))))
        (i64.store (local.get $out)
          (select (i64.sub (local.get $r) (local.get $q)) (local.get $r)
            (i64.ge_s (local.get $r) (local.get $q))))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (local.set $b (i32.add (local.get $b) (i32.const 8)))
        (local.set $add (i32.add (local.get $add) (i32.const 8)))
        (br $next))))

  ;; dst[c] = dst[c] + src[c] mod q for c < n (both reduced; src may be dst).
  (func (export "addInto") (param $dst i32) (param $src i32) (param $n i32) (param $q i64)
    (local $end i32) (local $r i64)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $r (i64.add (i64.load (local.get $dst)) (i64.load (local.get $src))))
        (i64.store (local.get $dst)
          (select (i64.sub (local.get $r) (local.get $q)) (local.get $r)
            (i64.ge_s (local.get $r) (local.get $q))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (local.set $src (i32.add (local.get $src) (i32.const 8)))
        (br $next))))

  ;; The CRT (coefficient-encoding.ts, centredValues): for c < n, the signed integer in
  ;; (−Q/2, Q/2) with residues res[j·n + c] mod the $primes moduli, divided by $scale, into
  ;; out[c] (f64). Garner's mixed radix in exact modular arithmetic, then Horner in doubles.
  ;; $moduli: i64 per prime; $qinvs: f64 1/q_j per prime; $inverses: i64 at j·primes + i,
  ;; q_i⁻¹ mod q_j for i < j; $digits: scratch of $primes i64.
  (func (export "centred") (param $out i32) (param $res i32) (param $n i32) (param $primes i32)
    (param $moduli i32) (param $qinvs i32) (param $inverses i32) (param $digits i32)
    (param $scale f64)
    (local $c i32) (local $j i32) (local $i i32) (local $qj i64) (local $qinv f64)
    (local $digit i64) (local $value f64) (local $top i32)
    (local.set $top (i32.sub (local.get $primes) (i32.const 1)))
    (local.set $c (i32.const 0))
    (block $coefficients
      (loop $coefficient
        (br_if $coefficients (i32.ge_u (local.get $c) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $primesDone
          (loop $prime
            (br_if $primesDone (i32.ge_u (local.get $j) (local.get $primes)))
            (local.set $qj (i64.load (i32.add (local.get $moduli) (i32.shl (local.get $j) (i32.const 3)))))
            (local.set $qinv (f64.load (i32.add (local.get $qinvs) (i32.shl (local.get $j) (i32.const 3)))))
            (local.set $digit
              (i64.load (i32.add (local.get $res)
                (i32.shl (i32.add (i32.mul (local.get $j) (local.get $n)) (local.get $c))
                  (i32.const 3)))))
            (local.set $i (i32.const 0))
            (block $earlierDone
              (loop $earlier
                (br_if $earlierDone (i32.ge_u (local.get $i) (local.get $j)))
                (local.set $digit
                  (i64.sub (local.get $digit)
                    (i64.rem_u
                      (i64.load (i32.add (local.get $digits) (i32.shl (local.get $i) (i32.const 3))))
                      (local.get $qj))))
                (local.set $digit
                  (select (i64.add (local.get $digit) (local.get $qj)) (local.get $digit)
                    (i64.lt_s (local.get $digit) (i64.const 0))))
                (local.set $digit
                  (call $mulmod (local.get $digit)
                    (i64.load (i32.add (local.get $inverses)
                      (i32.shl (i32.add (i32.mul (local.get $j) (local.get $primes)) (local.get $i))
                        (i32.const 3))))
                    (local.get $qj) (local.get $qinv)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $earlier)))
            (i64.store (i32.add (local.get $digits) (i32.shl (local.get $j) (i32.const 3)))
              (local.get $digit))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $prime)))
        ;; value = d0 + q0·(d1 + q1·(d2 + …)); above Q/2 it stands for value − Q, which the
        ;; top digit taken as d − q_top gives.
        (local.set $qj (i64.load (i32.add (local.get $moduli) (i32.shl (local.get $top) (i32.const 3)))))
        (local.set $digit (i64.load (i32.add (local.get $digits) (i32.shl (local.get $top) (i32.const 3)))))
        (local.set $value
          (select
            (f64.sub (f64.convert_i64_u (local.get $digit)) (f64.convert_i64_u (local.get $qj)))
            (f64.convert_i64_u (local.get $digit))
            (i64.ge_u (local.get $digit)
              (i64.shr_u (i64.sub (local.get $qj) (i64.const 1)) (i64.const 1)))))
        (local.set $j (local.get $top))
        (block $hornerDone
          (loop $horner
            (br_if $hornerDone (i32.eqz (local.get $j)))
            (local.set $j (i32.sub (local.get $j) (i32.const 1)))
            (local.set $value
              (f64.add
                (f64.mul (local.get $value)
                  (f64.convert_i64_u
                    (i64.load (i32.add (local.get $moduli) (i32.shl (local.get $j) (i32.const 3))))))
                (f64.convert_i64_u
                  (i64.load (i32.add (local.get $digits) (i32.shl (local.get $j) (i32.const 3)))))))
            (br $horner)))
        (f64.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 3)))
          (f64.div (local.get $value) (local.get $scale)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $coefficient)))))
