// WHERE: out[i] = cond[i_cond] ? x[i_x] : y[i_y], moving raw bits (any dtype).
const N = {{N}};

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if (i >= N) {
        return;
    }
{{INDEX}}
    if (ld_cond(i_cond) != 0u) {
        str_out(i, ldr_x(i_x));
    } else {
        str_out(i, ldr_y(i_y));
    }
}
