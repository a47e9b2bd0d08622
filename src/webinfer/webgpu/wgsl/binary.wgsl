// BINARY: y[i] = op(a[i_a], b[i_b]) where i_a, i_b follow the operands' (broadcast) strides.
const N = {{N}};

fn op(a: {{T}}, b: {{T}}) -> {{R}} {
    {{OP}}
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= N) {
        return;
    }
{{INDEX}}
    st_y(i, op(ld_a(i_a), ld_b(i_b)));
}
