// COPY: dst[i_dst] = src[i_src] over an N-D box; both sides strided (negative strides count down from the
// start, which the step's offsets already include).

fn element(i: u32) {
{{INDEX}}
    str_dst(i_dst, ldr_src(i_src));
}
