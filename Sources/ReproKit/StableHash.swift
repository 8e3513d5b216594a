/// FNV-1a, 64 bits, as lowercase hex: a name for a text that is the same in every process and on every machine
/// (Swift's `Hasher` is seeded per process). A name, not a secret.
public func stableHash(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x100_0000_01b3
    }
    return String(hash, radix: 16)
}
