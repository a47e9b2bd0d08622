// Split-K's second dispatch (split.wgsl): one thread per result adds its SPLIT partial products in
// slice order, then applies the step's epilogue.
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    use_bindings();
    let i = flat_index(gid, nwg);
    if (i >= Z * M * N) {
        return;
    }
    var acc = 0.0;
    for (var s = 0u; s < SPLIT; s++) {
        acc += part[s * (Z * M * N) + i];
    }
    epilogue(i / (M * N), i / N % M, i % N, acc);
}
