import type { SharedSecretEvidence } from '../dleq.ts';
import type { MerkleProofStep } from '../merkle.ts';

/**
 * The SecAgg+ messages of each phase (Bonawitz et al., CCS 2017, Fig. 4; Bell et al., CCS 2020).
 * Server-to-client messages are per recipient: in SecAgg+ a client only hears about its
 * neighbours. These plain records are what proto/ later puts on the wire.
 */

/** Round 0, client → server: this round's public keys, signed with the identity key. */
export interface AdvertiseKeysMessage {
  readonly sender: number;
  /** c_u^PK: the key others seal their share boxes for u to. */
  readonly encryptionPublicKey: Uint8Array;
  /** s_u^PK: agrees the pairwise mask seeds. */
  readonly maskingPublicKey: Uint8Array;
  /**
   * A proof that u knows s_u^SK (dleq.ts proveKeyPossession), bound to the round and to u
   * (transcript.ts maskingKeyPossessionContext); an Ed25519 signature under the lift of s_u^PK,
   * so it verifies at native speed. The server refuses an AdvertiseKeys whose proof does not
   * verify (a member that could not have its pairwise secrets revealed once convicted could
   * otherwise stop the round); members check it only in the dispute path, before revealing a
   * pairwise secret with u once u is convicted (and the server again before using one) — without
   * it a member could advertise another's masking key and have its neighbours reveal that
   * member's pairwise secrets. Not covered by the signature: it proves itself.
   */
  readonly maskingKeyProof?: Uint8Array;
  /**
   * A_u = a·B (Ed25519): the key u seals its own share boxes under (share-box.ts); its X25519
   * form E_u = u(A_u). Signed here, so a box that opens under a·C_v is u's without another check.
   */
  readonly sealingPublicKey: Uint8Array;
  /** c_u = H(binding, u, r_u): commits to u's share of the graph seed (graph-seed.ts). */
  readonly seedCommitment: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * Round 0 → seed reveal (sparse graphs), server → client: the digest D of U1's seed commitments,
 * fixed before any member reveals.
 */
export interface SeedCommitmentsMessage {
  readonly digest: Uint8Array;
}

/** Seed reveal, client → server: r_u, once D is fixed. */
export interface SeedRevealMessage {
  readonly sender: number;
  readonly contribution: Uint8Array;
}

/**
 * Round 0 → 1, server → client u: the advertised keys of u's neighbours in U1 and, for a sparse
 * graph, every U1 member's seed reveal (the graph, and so the neighbours, follow from them).
 */
export interface KeysBroadcast {
  readonly keys: readonly AdvertiseKeysMessage[];
  readonly seedReveals?: readonly SeedRevealMessage[];
}

/** A share box as its sender sends it (share-box.ts): to `peer`, under the sender's sealing key. */
export interface ShareBox {
  /** The share holder (recipient). */
  readonly peer: number;
  readonly ciphertext: Uint8Array;
}

/**
 * Round 1, client → server: one AEAD box per neighbour in U1, all under the sealing key A_u it
 * advertised, plus a commitment to b_u. The sender signs once, over the Merkle root of the boxes
 * (share-box.ts).
 */
export interface ShareKeysMessage {
  readonly sender: number;
  readonly selfMaskCommitment: Uint8Array;
  readonly encryptedShares: readonly ShareBox[];
  /** The sender's identity signature over (round binding, sender, A, root of the boxes). */
  readonly signature: Uint8Array;
  /** A's signature over the same bytes: proves the sender knows a. */
  readonly ephemeralSignature: Uint8Array;
}

/**
 * A share box as delivered (and as a conviction shows it): the box with what proves its sender
 * signed it — the sender's sealing key A, both signatures on the root, and the box's path to it.
 */
export interface EncryptedShare {
  /** The share owner (sender) when delivered. */
  readonly peer: number;
  /** A: the sender's advertised sealing key (AdvertiseKeysMessage.sealingPublicKey). */
  readonly ephemeralPublicKey: Uint8Array;
  readonly ciphertext: Uint8Array;
  /** The sender's identity signature over (round binding, sender, A, root). */
  readonly signature: Uint8Array;
  /** A's signature over the same bytes. */
  readonly ephemeralSignature: Uint8Array;
  /** From the box's leaf (recipient, recipient key, ciphertext) to the root signed. */
  readonly path: readonly MerkleProofStep[];
}

/** Round 1 → 2, server → client v: the boxes addressed to v by its neighbours in U2. */
export interface SharesDelivery {
  readonly encryptedShares: readonly EncryptedShare[];
}

/**
 * A neighbour's share box, validly signed by it, that did not open or held no valid share for us.
 * The evidence is X25519(c_v^SK, E) for that box's ephemeral key E, with a proof that it is
 * (dleq.ts): anyone re-derives K_{u→v} and sees the box fail to open. It opens that one box and
 * nothing else — every other box has another ephemeral key (another sender's message) or another
 * recipient key (u's other boxes) — and the box is the accused's own, signed. No evidence: E is not a point of prime order (checkable from the box).
 */
export interface ShareComplaint {
  readonly accused: number;
  readonly evidence?: SharedSecretEvidence;
}

/** Round 2, client → server: y_u = x_u + PRG(b_u) + Σ_v ±PRG(s_{u,v}) mod 2^32. */
export interface MaskedInputMessage {
  readonly sender: number;
  readonly maskedInput: Uint32Array;
  /** Neighbours whose share boxes were bad (opened on arrival, before masking). */
  readonly complaints?: readonly ShareComplaint[];
}

/** A member the server caught breaking the protocol, and what it did. */
export interface Misbehaviour {
  readonly member: number;
  readonly reason: string;
  /** What shows it (e.g. the bad box and the revealed key): kept, and hashed onto the ledger. */
  readonly evidence: Uint8Array;
}

/**
 * A complaint the server upheld, excluding its accused from U3, with all a member needs to judge
 * it again from public data (judgeShareComplaint): the accused's box as it signed it for
 * `recipientPublicKey` (delivered form: `box.peer` is the accused) and the accuser's complaint.
 */
export interface Conviction {
  readonly accuser: number;
  readonly box: EncryptedShare;
  readonly recipientPublicKey: Uint8Array;
  readonly complaint: ShareComplaint;
}

/**
 * Round 3 (semi-malicious only), server → clients in U3: U3 and the convictions that excluded
 * members from it; a member signs both, and only after judging each conviction itself.
 */
export interface ConsistencyCheckRequest {
  readonly survivors: readonly number[];
  readonly convictions?: readonly Conviction[];
}

export interface ConsistencySignatureMessage {
  readonly sender: number;
  readonly signature: Uint8Array;
}

/** Round 4, server → client: U3, and (semi-malicious) ≥ t signatures on it. */
export interface UnmaskingRequest {
  readonly survivors: readonly number[];
  readonly signatures: readonly ConsistencySignatureMessage[];
  readonly convictions?: readonly Conviction[];
}

export interface RevealedShare {
  /** Whose secret this is a share of. */
  readonly owner: number;
  /** encodeShare(): x = the revealing client's index. */
  readonly share: Uint8Array;
}

/**
 * Round 4, client u → server, for a neighbour v convicted out of U3 (its masked input is not in
 * the sum): X25519(s_u^SK, s_v^PK), the secret behind the pairwise mask u added for v, proven
 * with a DLEQ proof against u's advertised masking key (dleq.ts). The server removes that mask
 * with it, so a convicted member whose own s^SK shares cannot be reconstructed (it dealt garbage)
 * still does not stop the round. Revealing it gives the coordinator nothing beyond what v could
 * compute only if v knows the secret key of s_v^PK: so u reveals only once v's proof of
 * possession (AdvertiseKeysMessage.maskingKeyProof) verifies and s_v^PK is no other member's key
 * up to sign. Otherwise s_v^PK may be an honest member w's key (or k·s_w^PK), and the secret
 * revealed would be the one of the honest pair (u, w).
 */
export interface PairwiseReveal {
  readonly peer: number;
  readonly evidence: SharedSecretEvidence;
}

/** Round 4, client → server: b-shares of survivors, s^SK-shares of dropped neighbours. */
export interface UnmaskingMessage {
  readonly sender: number;
  readonly selfMaskShares: readonly RevealedShare[];
  readonly maskingKeyShares: readonly RevealedShare[];
  /** Peers whose share box failed authentication: reported, never guessed. */
  readonly undecryptable: readonly number[];
  /** The pairwise secret with each convicted neighbour (never with a member in U3). */
  readonly pairwiseSecrets?: readonly PairwiseReveal[];
}

/**
 * The second reveal, coordinator → client: members outside the committed U3 whose pairwise masks
 * their s^SK shares could not remove (a wrong, inconsistent or missing s^SK). Served only when a
 * reconstruction failed: a round without one never has this exchange.
 */
export interface PairwiseRevealRequest {
  readonly dropped: readonly number[];
}

/**
 * The second reveal, client → server: X25519(s_u, s_v^PK) with its DLEQ proof for each requested
 * v outside the committed U3 that u masked with (and for no pair already revealed this round).
 */
export interface PairwiseRevealMessage {
  readonly sender: number;
  readonly pairwiseSecrets: readonly PairwiseReveal[];
}

export type SecAggPhase =
  | 'advertise-keys'
  /** Sparse graphs only: U1 reveals its seed contributions. */
  | 'seed-reveal'
  | 'share-keys'
  | 'masked-input'
  /** Client only: masks listed by prepareMasks, masked input not yet produced. */
  | 'masking'
  | 'consistency-check'
  | 'unmasking'
  /** After Unmasking, only when a dropped member's masks cannot come off from its s^SK shares. */
  | 'pairwise-reveal'
  | 'done'
  | 'aborted';
