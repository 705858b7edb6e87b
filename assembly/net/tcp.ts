// TCP header facts. see: RFC 9293 §3.1

export const TCP_HLEN_MIN: u32 = 20;
export const TCP_SEQ: u32 = 4;
export const TCP_DOFF: u32 = 12;
export const TCP_FLAGS: u32 = 13;
export const TCP_CHECK: u32 = 16;

export const TCP_FLAG_FIN: u8 = 0x01;
export const TCP_FLAG_PSH: u8 = 0x08;
export const TCP_FLAG_CWR: u8 = 0x80;

// @ts-ignore: decorator
@inline export function tcpHeaderLength(tcp: usize): u32 {
  return (<u32>load<u8>(tcp + TCP_DOFF) >> 4) << 2;
}
