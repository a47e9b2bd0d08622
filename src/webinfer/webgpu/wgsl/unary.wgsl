// UNARY: y[i] = act(x[i]).
const N = {{N}};

fn act(x: f32) -> f32 {
    return {{ACT}};
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= N) {
        return;
    }
    st_y(i, act(ld_x(i)));
}
