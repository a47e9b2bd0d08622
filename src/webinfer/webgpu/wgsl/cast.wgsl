// CAST: y[i] = convert(x[i]) between the two dtypes (float -> int truncates, -> bool is x != 0).
const N = {{N}};

fn convert(v: {{FROM}}) -> {{TO}} {
    return {{CONVERT}};
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= N) {
        return;
    }
    st_y(i, convert(ld_x(i)));
}
