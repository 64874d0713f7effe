/**
 * The functions of sodium-native (libsodium's Node binding, N-API) that crypto/ uses. The
 * package ships no types; these follow its README: outputs are written into the first argument,
 * a failing libsodium call throws.
 */
declare module 'sodium-native' {
  const sodium: {
    /** Ed25519 (RFC 8032) verification of a detached signature: true when it verifies. */
    crypto_sign_verify_detached(
      signature: Uint8Array,
      message: Uint8Array,
      publicKey: Uint8Array,
    ): boolean;
    /** X25519 (RFC 7748) into `shared`; throws on a low-order point or an all-zero result. */
    crypto_scalarmult(shared: Uint8Array, secretKey: Uint8Array, publicKey: Uint8Array): void;
    /** SHA-256 of `message` into `digest` (32 bytes). */
    crypto_hash_sha256(digest: Uint8Array, message: Uint8Array): void;
  };
  export default sodium;
}
