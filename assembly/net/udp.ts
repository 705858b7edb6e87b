// UDP header facts. see: RFC 768

export const UDP_HLEN: u32 = 8;
export const UDP_LEN: u32 = 4;
export const UDP_CHECK: u32 = 6;
