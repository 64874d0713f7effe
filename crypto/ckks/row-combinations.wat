;; Row combinations of the encryption proof (encryption-proof.ts): sums[j] = sum_i c_ji*x_i for
;; c_ji in {-1, 0, 1}, on 64-bit integers with two-lane SIMD. Built into row-combinations-wasm.ts
;; by `npm run build:wasm` (cli/dev/build-wasm.ts); CI checks that the built file is current.
;;
;; Memory (byte addresses chosen by the caller, 16-aligned): `count` columns of `length` i64 each,
;; `rows` row sums of `length` i64, a zero column of `block` i64, 10 combination buffers of
;; `block` i64, a table of 27 i32 pointers, and the challenge selections: for triple t of columns
;; and row j, byte t*rows + j holds (c_j,3t + 1)*9 + (c_j,3t+1 + 1)*3 + (c_j,3t+2 + 1).
(module
  (memory (export "memory") 1)

  ;; dst[k] = x[k] + y[k] for k < n (n even)
  (func $sum (param $dst i32) (param $x i32) (param $y i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst)
          (i64x2.add (v128.load (local.get $x)) (v128.load (local.get $y))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $next))))

  ;; dst[k] = x[k] - y[k] for k < n (n even)
  (func $diff (param $dst i32) (param $x i32) (param $y i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst)
          (i64x2.sub (v128.load (local.get $x)) (v128.load (local.get $y))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $next))))

  ;; dst[k] += x[k] for k < n (n even)
  (func $add_into (param $dst i32) (param $x i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst)
          (i64x2.add (v128.load (local.get $dst)) (v128.load (local.get $x))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $next))))

  ;; dst[k] -= x[k] for k < n (n even)
  (func $sub_into (param $dst i32) (param $x i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst)
          (i64x2.sub (v128.load (local.get $dst)) (v128.load (local.get $x))))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $next))))

  ;; Pointer i of the table (the block of combination i: sum of +-a, +-b, +-c it names).
  (func $ptr (param $table i32) (param $i i32) (result i32)
    (i32.load (i32.add (local.get $table) (i32.shl (local.get $i) (i32.const 2)))))
  (func $set_ptr (param $table i32) (param $i i32) (param $value i32)
    (i32.store (i32.add (local.get $table) (i32.shl (local.get $i) (i32.const 2))) (local.get $value)))

  ;; The sums (zeroed by the caller) of every row over every column, block by block so that a
  ;; block's row sums and combinations stay in cache while the columns pass through them.
  ;; `length` and `block` are even; `block` divides `length`.
  (func (export "combine")
    (param $cols i32) (param $count i32) (param $length i32) (param $rows i32)
    (param $sel i32) (param $sums i32) (param $combos i32) (param $zero i32)
    (param $table i32) (param $block i32)
    (local $start i32) (local $g i32) (local $t i32) (local $j i32) (local $index i32)
    (local $a i32) (local $b i32) (local $c i32) (local $stride i32) (local $slot i32)
    (local $row i32) (local $offset i32)
    (local.set $stride (i32.shl (local.get $length) (i32.const 3)))
    (local.set $slot (i32.shl (local.get $block) (i32.const 3)))
    (local.set $start (i32.const 0))
    (block $blocks_done
      (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $start) (local.get $length)))
        (local.set $offset (i32.shl (local.get $start) (i32.const 3)))
        (local.set $g (i32.const 0))
        (local.set $t (i32.const 0))
        (block $triples_done
          (loop $triples
            (br_if $triples_done (i32.ge_u (local.get $g) (local.get $count)))
            (local.set $a
              (i32.add (i32.add (local.get $cols) (i32.mul (local.get $g) (local.get $stride)))
                       (local.get $offset)))
            (local.set $b
              (select
                (i32.add (local.get $a) (local.get $stride))
                (local.get $zero)
                (i32.lt_u (i32.add (local.get $g) (i32.const 1)) (local.get $count))))
            (local.set $c
              (select
                (i32.add (local.get $a) (i32.shl (local.get $stride) (i32.const 1)))
                (local.get $zero)
                (i32.lt_u (i32.add (local.get $g) (i32.const 2)) (local.get $count))))
            ;; 13 combinations with a positive leading coefficient; 26 - i is the negation of i.
            (call $set_ptr (local.get $table) (i32.const 14) (local.get $c))
            (call $set_ptr (local.get $table) (i32.const 16) (local.get $b))
            (call $set_ptr (local.get $table) (i32.const 22) (local.get $a))
            (call $set_ptr (local.get $table) (i32.const 15) (local.get $combos))
            (call $set_ptr (local.get $table) (i32.const 17)
              (i32.add (local.get $combos) (local.get $slot)))
            (call $set_ptr (local.get $table) (i32.const 21)
              (i32.add (local.get $combos) (i32.mul (local.get $slot) (i32.const 2))))
            (call $set_ptr (local.get $table) (i32.const 23)
              (i32.add (local.get $combos) (i32.mul (local.get $slot) (i32.const 3))))
            (call $set_ptr (local.get $table) (i32.const 19)
              (i32.add (local.get $combos) (i32.mul (local.get $slot) (i32.const 4))))
            (call $set_ptr (local.get $table) (i32.const 25)
              (i32.add (local.get $combos) (i32.mul (local.get $slot) (i32.const 5))))
            (call $set_ptr (local.get $table) (i32.const 18)
              (i32.add (local.get $combos) (i32.mul (local.get $slot) (i32.const 6))))
            (call $set_ptr (local.get $table) (i32.const 20)
              (i32.add (local.get $combos) (i32.mul (local.get $slot) (i32.const 7))))
            (call $set_ptr (local.get $table) (i32.const 24)
              (i32.add (local.get $combos) (i32.mul (local.get $slot) (i32.const 8))))
            (call $set_ptr (local.get $table) (i32.const 26)
              (i32.add (local.get $combos) (i32.mul (local.get $slot) (i32.const 9))))
            (call $diff (call $ptr (local.get $table) (i32.const 15)) (local.get $b) (local.get $c) (local.get $block))
            (call $sum (call $ptr (local.get $table) (i32.const 17)) (local.get $b) (local.get $c) (local.get $block))
            (call $diff (call $ptr (local.get $table) (i32.const 21)) (local.get $a) (local.get $c) (local.get $block))
            (call $sum (call $ptr (local.get $table) (i32.const 23)) (local.get $a) (local.get $c) (local.get $block))
            (call $diff (call $ptr (local.get $table) (i32.const 19)) (local.get $a) (local.get $b) (local.get $block))
            (call $sum (call $ptr (local.get $table) (i32.const 25)) (local.get $a) (local.get $b) (local.get $block))
            (call $diff (call $ptr (local.get $table) (i32.const 18))
              (call $ptr (local.get $table) (i32.const 19)) (local.get $c) (local.get $block))
            (call $sum (call $ptr (local.get $table) (i32.const 20))
              (call $ptr (local.get $table) (i32.const 19)) (local.get $c) (local.get $block))
            (call $diff (call $ptr (local.get $table) (i32.const 24))
              (call $ptr (local.get $table) (i32.const 25)) (local.get $c) (local.get $block))
            (call $sum (call $ptr (local.get $table) (i32.const 26))
              (call $ptr (local.get $table) (i32.const 25)) (local.get $c) (local.get $block))
            ;; Each row adds (or subtracts) the one combination its three challenges select.
            (local.set $j (i32.const 0))
            (local.set $row (i32.add (local.get $sums) (local.get $offset)))
            (block $rows_done
              (loop $each_row
                (br_if $rows_done (i32.ge_u (local.get $j) (local.get $rows)))
                (local.set $index
                  (i32.load8_u
                    (i32.add (local.get $sel)
                      (i32.add (i32.mul (local.get $t) (local.get $rows)) (local.get $j)))))
                (if (i32.gt_u (local.get $index) (i32.const 13))
                  (then
                    (call $add_into (local.get $row)
                      (call $ptr (local.get $table) (local.get $index)) (local.get $block)))
                  (else
                    (if (i32.lt_u (local.get $index) (i32.const 13))
                      (then
                        (call $sub_into (local.get $row)
                          (call $ptr (local.get $table) (i32.sub (i32.const 26) (local.get $index)))
                          (local.get $block))))))
                (local.set $row (i32.add (local.get $row) (local.get $stride)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $each_row)))
            (local.set $g (i32.add (local.get $g) (i32.const 3)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $triples)))
        (local.set $start (i32.add (local.get $start) (local.get $block)))
        (br $blocks))))

  ;; In place, for n values: the i64 at each address becomes the f64 of (x mod q) in [0, q), where
  ;; q is the i64 at moduli + 8*floor((k mod (primes*degree)) / degree) and inverses holds 1/q as f64.
  ;; |x| < 2^62 and q < 2^52: the estimated quotient is off by at most one.
  (func (export "reduce")
    (param $at i32) (param $n i32) (param $degree i32) (param $primes i32)
    (param $moduli i32) (param $inverses i32)
    (local $end i32) (local $k i32) (local $prime i32) (local $x i64) (local $q i64) (local $r i64)
    (local $inverse f64)
    (local.set $end (i32.add (local.get $at) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $k (i32.const 0))
    (local.set $prime (i32.const 0))
    (local.set $q (i64.load (local.get $moduli)))
    (local.set $inverse (f64.load (local.get $inverses)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $x (i64.load (local.get $at)))
        (local.set $r
          (i64.sub (local.get $x)
            (i64.mul (local.get $q)
              (i64.trunc_f64_s
                (f64.floor (f64.mul (f64.convert_i64_s (local.get $x)) (local.get $inverse)))))))
        (if (i64.lt_s (local.get $r) (i64.const 0))
          (then (local.set $r (i64.add (local.get $r) (local.get $q)))))
        (if (i64.ge_s (local.get $r) (local.get $q))
          (then (local.set $r (i64.sub (local.get $r) (local.get $q)))))
        (f64.store (local.get $at) (f64.convert_i64_s (local.get $r)))
        (local.set $at (i32.add (local.get $at) (i32.const 8)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (if (i32.eq (local.get $k) (local.get $degree))
          (then
            (local.set $k (i32.const 0))
            (local.set $prime (i32.add (local.get $prime) (i32.const 1)))
            (if (i32.eq (local.get $prime) (local.get $primes))
              (then (local.set $prime (i32.const 0))))
            (local.set $q
              (i64.load (i32.add (local.get $moduli) (i32.shl (local.get $prime) (i32.const 3)))))
            (local.set $inverse
              (f64.load (i32.add (local.get $inverses) (i32.shl (local.get $prime) (i32.const 3)))))))
        (br $next))))

  ;; In place, for n values: the i64 at each address becomes its f64 (exact below 2^53).
  (func (export "toFloat") (param $at i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $at) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (f64.store (local.get $at) (f64.convert_i64_s (i64.load (local.get $at))))
        (local.set $at (i32.add (local.get $at) (i32.const 8)))
        (br $next))))
)
