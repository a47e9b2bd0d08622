// Split-K's second dispatch (split.wgsl), one thread per result (flat.wgsl): the SPLIT partial
// products of result i added in slice order, then the step's epilogue.
fn element(i: u32) {
    use_bindings();
    var acc = 0.0;
    for (var s = 0u; s < SPLIT; s++) {
        acc += part[s * (Z * M * N) + i];
    }
    epilogue(i / (M * N), i / N % M, i % N, acc);
}
