import { createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { nativeCurve25519 as curve } from '../../crypto/curve25519-native.ts';
import { createRoundContext, type RoundContext } from '../../crypto/secagg/config.ts';
import { ed25519 } from '@noble/curves/ed25519.js';
import { AuthenticationError, openAead } from '../../crypto/aead.ts';
import type {
  AdvertiseKeysMessage,
  Conviction,
  KeysBroadcast,
  SeedCommitmentsMessage,
  ShareComplaint,
  ShareKeysMessage,
  SharesDelivery,
  UnmaskingMessage,
} from '../../crypto/secagg/messages.ts';
import { shareBoxKey, shareBoxSealedPart } from '../../crypto/secagg/share-box.ts';
import { shareBoxAssociatedData } from '../../crypto/secagg/transcript.ts';
import { SHARE_BYTES } from '../../crypto/shamir.ts';
import { SecAggClient } from '../../crypto/secagg/client.ts';
import { combineMasks } from '../../crypto/secagg/masks.ts';
import { systemRandom } from '../../crypto/random.ts';
import { type SecAggResult, SecAggServer } from '../../crypto/secagg/server.ts';
import type { IssuedIdentity } from '../../services/pki/dev-ca.ts';
import { EmbeddedLedgerDatabase } from '../../ledger/embedded/embedded-ledger.ts';
import { Ledger } from '../../ledger/ledger.ts';
import type { RoundManifest, RoundPhaseName } from '../../ledger/records.ts';
import {
  Adversary,
  Mode,
  Phase,
  type Round,
  RoundAdminServiceService,
  RoundParams,
} from '../../proto/gen/veilsum/v1/round.ts';
import { SecAggServiceService, type UploadChunk } from '../../proto/gen/veilsum/v1/secagg.ts';
import { ledgerParamsHash, paramsHash, secAggConfigOf } from '../../proto/round-wire.ts';
import {
  advertiseKeysFromWire,
  complaintsFromWire,
  consistencyCheckToWire,
  keysBroadcastToWire,
  seedCommitmentsToWire,
  seedRevealFromWire,
  shareKeysFromWire,
  sharesDeliveryToWire,
  signSurvivorsFromWire,
  unmaskFromWire,
  unmaskingRequestToWire,
} from '../../proto/secagg-wire.ts';
import { callerOrganisation } from '../../services/common/caller.ts';
import { bindMtls } from '../../services/common/mtls-server.ts';
import { roundManifest } from '../../services/coordinator/round-params.ts';
import type { Consortium } from './consortium.ts';

/**
 * A coordinator that lies, for the adversarial suites: it runs the real SecAgg+ server state
 * machine behind a gRPC endpoint (mTLS on 127.0.0.1, the same services the SDK calls) and an
 * embedded ledger it writes as the coordinator — under the contract's rules, which it cannot
 * break — but every message it serves passes through the attack's hooks first. Members are the
 * unmodified SDK (VeilsumClient) reading their own view of the ledger.
 */
export interface Attack {
  /** Changes the parameters or manifest before RoundOpened (what the coordinator commits). */
  manifest?(honest: RoundManifest): RoundManifest;
  /** The round as served to `member` (GetRound). */
  round?(honest: Round, member: string): Round;
  /** The digest of U1's seed commitments shown to `recipient` before it reveals (sparse). */
  seedCommitments?(recipient: number, honest: SeedCommitmentsMessage): SeedCommitmentsMessage;
  /** Keys and (sparse) U1's seed reveals as served to `recipient`. */
  keys?(recipient: number, honest: KeysBroadcast): KeysBroadcast;
  shares?(recipient: number, honest: SharesDelivery): SharesDelivery;
  survivors?(recipient: number, honest: readonly number[]): readonly number[];
  /** The convictions served with U3 to `recipient` (ConsistencyCheck and Unmasking). */
  convictions?(recipient: number, honest: readonly Conviction[]): readonly Conviction[];
  /** The set the coordinator commits for a phase (default: the honest one). */
  commit?(
    phase: RoundPhaseName,
    honest: readonly number[],
  ): readonly number[] | Promise<readonly number[]>;
}

export interface HarnessRound {
  readonly members: readonly string[];
  readonly degree: number;
  readonly threshold: number;
  readonly adversary: 'semi-honest' | 'semi-malicious';
  readonly corruptionRate?: number;
  readonly dropoutRate: number;
  readonly dimension?: number;
  /** False: the coordinator runs the round without any ledger (members then need none). */
  readonly ledger?: boolean;
  /**
   * Roster slots (1-based) the coordinator plays itself, with the identity it holds for the
   * entry (its own certificate, or a colluding member's): every share box addressed to them is
   * the coordinator's to open. A function picks them once the graph is known (colluders placed
   * among a victim's neighbours).
   */
  readonly controlled?: readonly number[] | ((context: RoundContext) => readonly number[]);
  /** How long a phase waits for silent members (default 2.5 s; large rosters need more). */
  readonly phaseTimeoutMs?: number;
}

const PHASE_TIMEOUT_MS = 2_500;
const ORDER = [
  'advertise-keys',
  'seed-reveal',
  'share-keys',
  'masked-input',
  'consistency-check',
  'unmasking',
];

export class MaliciousCoordinator {
  readonly ledgerPath: string;
  readonly database: EmbeddedLedgerDatabase;
  /** Every Unmasking message members sent. */
  readonly reveals: UnmaskingMessage[] = [];
  /** Every AdvertiseKeys and ShareKeys message (all share boxes), by sender. */
  readonly advertisements = new Map<number, AdvertiseKeysMessage>();
  readonly shareMessages = new Map<number, ShareKeysMessage>();
  /** Every complaint sent with a masked input, with its accuser. */
  readonly complaints: { accuser: number; complaint: ShareComplaint }[] = [];
  /** Masked inputs as uploaded, by index. */
  readonly uploads = new Map<number, Uint32Array>();
  /** Whom each member sent share boxes to: the graph the members really used. */
  readonly shareRecipients = new Map<number, number[]>();
  port = 0;
  round!: Round;
  private openedContext!: RoundContext;
  private server!: SecAggServer;
  private readonly grpcServer = new grpc.Server();
  private readonly consortium: Consortium;
  private readonly attack: Attack;
  private readonly waiters = new Set<() => void>();
  private phaseTimer: NodeJS.Timeout | undefined;
  private phaseTimeoutMs = PHASE_TIMEOUT_MS;
  /** Survivor-set signatures by signer, with the set it was served (split views keep both). */
  private readonly signatures = new Map<number, { set: string; signature: Uint8Array }>();
  /** The coordinator's own roster slots, run in-process as members. */
  private readonly slots = new Map<number, SecAggClient>();
  /** Owners whose share box reached one of the coordinator's own slots, by slot. */
  private readonly slotBoxes = new Map<number, number[]>();
  private spec!: HarnessRound;

  constructor(consortium: Consortium, attack: Attack = {}, name = 'malicious') {
    this.consortium = consortium;
    this.attack = attack;
    this.ledgerPath = join(consortium.directory, `${name}-ledger.db`);
    this.database = new EmbeddedLedgerDatabase(
      this.ledgerPath,
      readFileSync(consortium.pki.caCertificatePath),
    );
  }

  /** A member's own view of the ledger: the same file, opened as that member. */
  ledgerFor(member: string): Ledger {
    return new Ledger(this.database.as(this.consortium.local.ledgerWriter(member)));
  }

  async start(): Promise<void> {
    const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback({ code: grpc.status.UNIMPLEMENTED, details: 'not in the harness' });
    const admin = Object.fromEntries(
      Object.keys(RoundAdminServiceService).map((name) => [name, unimplemented]),
    ) as unknown as grpc.UntypedServiceImplementation;
    const getRound: grpc.handleUnaryCall<{ roundId: string }, Round> = (call, callback) => {
      const member = callerOrganisation(call);
      callback(null, this.served(this.snapshot(), member));
    };
    admin.getRound = getRound as grpc.UntypedHandleCall;
    this.grpcServer.addService(RoundAdminServiceService, admin);
    this.grpcServer.addService(SecAggServiceService, this.secAggService());
    this.port = await bindMtls(this.grpcServer, '127.0.0.1:0', this.consortium.config.tls);
  }

  async stop(): Promise<void> {
    clearTimeout(this.phaseTimer);
    for (const wake of [...this.waiters]) wake();
    await new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    this.database.close();
  }

  /** RoundOpened on the ledger (with whatever manifest the attack commits), then serve it. */
  async open(spec: HarnessRound, roundNumber = 1): Promise<Round> {
    this.spec = spec;
    const coordinator = new Ledger(
      this.database.as(this.consortium.local.ledgerWriter('veilsum-coordinator')),
    );
    const withLedger = spec.ledger !== false;
    if (withLedger) {
      await coordinator.registerMember('veilsum-coordinator', ['coordinator']);
      // Whatever the roster lists is registered as a member (roles only grow).
      for (const id of new Set(spec.members)) await coordinator.registerMember(id, ['member']);
      // The contract opens a round only when every roster member consents to its model.
      for (const id of new Set(spec.members)) {
        const member = this.ledgerFor(id);
        const consentId = `${id}-attack`;
        if ((await member.consentInForce(id, 'attack', Date.now())) === undefined)
          await member.grantConsent(consentId, `${id}-data`, 'attack', Date.now() + 86_400_000);
      }
    }
    const params: RoundParams = {
      modelId: 'attack',
      roundNumber,
      mode: Mode.MODE_SECAGG,
      dimension: spec.dimension ?? 16,
      quantization: { clipRange: 1, levelBits: 16, modulusBits: 32 },
      threshold: spec.threshold,
      degree: spec.degree,
      adversary:
        spec.adversary === 'semi-malicious'
          ? Adversary.ADVERSARY_SEMI_MALICIOUS
          : Adversary.ADVERSARY_SEMI_HONEST,
      members: [...spec.members],
      deadlines: {
        advertiseKeysMs: 60_000,
        shareKeysMs: 60_000,
        maskedInputMs: 60_000,
        consistencyCheckMs: 60_000,
        unmaskingMs: 60_000,
      },
      corruptionRate: spec.corruptionRate ?? 0.05,
      dropoutRate: spec.dropoutRate,
      minContributors: spec.members.length - Math.ceil(spec.dropoutRate * spec.members.length),
      ckks: undefined,
    };
    const identityKeys = spec.members.map((id) => memberIdentity(this.consortium, id).publicKey);
    const honest = roundManifest(params, identityKeys);
    const manifest = this.attack.manifest?.(honest) ?? honest;
    const roundId = `attack/round-${roundNumber}`;
    const graphSeed = withLedger
      ? new Uint8Array(
          Buffer.from(
            (
              await coordinator.openRound(
                roundId,
                'attack',
                roundNumber,
                Buffer.from(ledgerParamsHash(params)).toString('hex'),
                [...spec.members],
                manifest,
              )
            ).graphSeed!,
            'hex',
          ),
        )
      : new Uint8Array(randomBytes(32));
    this.round = {
      roundId,
      params,
      phase: Phase.PHASE_ADVERTISE_KEYS,
      roster: spec.members.map((memberId, i) => ({
        memberId,
        index: i + 1,
        identityKey: Buffer.from(identityKeys[i]!),
        certificate: readFileSync(identityFiles(this.consortium, memberId).certificatePath),
      })),
      graphSeed: Buffer.from(graphSeed),
      paramsHash: Buffer.from(paramsHash(RoundParams.encode(params).finish(), graphSeed)),
      openedAtMs: Date.now(),
      phaseDeadlineMs: 0,
      advertised: [],
      shared: [],
      masked: [],
      signed: [],
      unmasked: [],
      included: [],
      aggregateSha256: Buffer.alloc(0),
      uploadSha256: [],
      abortReason: '',
      misbehaving: [],
      missing: [],
      ledgerHead: undefined,
    };
    // The coordinator's own state machine runs on the round as it serves it.
    this.openedContext = createRoundContext(secAggConfigOf(this.served(this.round, '')));
    this.server = new SecAggServer({ context: this.openedContext, curve });
    this.phaseTimeoutMs = spec.phaseTimeoutMs ?? PHASE_TIMEOUT_MS;
    const controlled =
      typeof spec.controlled === 'function' ? spec.controlled(this.context) : spec.controlled;
    for (const index of controlled ?? []) {
      const slot = new SecAggClient({
        context: this.context,
        index,
        identitySecretKey: memberIdentity(this.consortium, spec.members[index - 1]!).secretKey,
        curve,
        random: systemRandom,
      });
      this.slots.set(index, slot);
      this.server.receiveAdvertiseKeys(slot.advertiseKeys());
    }
    this.armPhaseTimer();
    return this.round;
  }

  /**
   * The coordinator's own slots take each phase as it opens, as members would (they sign and
   * unmask too, so the honest members' rounds go through); each keeps the boxes it was sent.
   */
  private playSlots(): void {
    const sets = this.server.participantSets();
    for (const [index, slot] of this.slots) {
      const phase = this.server.currentPhase;
      if (phase === 'share-keys' && sets.advertised.includes(index)) {
        this.server.receiveShareKeys(slot.shareKeys(this.server.keysFor(index), sets.advertised));
      } else if (phase === 'masked-input' && sets.shared.includes(index)) {
        const delivery = this.server.sharesFor(index);
        this.slotBoxes.set(
          index,
          delivery.encryptedShares.map((box) => box.peer),
        );
        const jobs = slot.prepareMasks(delivery, sets.shared);
        const zero = new Uint32Array(this.context.config.dimension);
        const { maskedInput } = slot.completeMaskedInput(
          zero,
          combineMasks(jobs, zero.length, curve),
        );
        this.server.receiveMaskedInput({ sender: index, maskedInput });
        this.uploads.set(index, maskedInput);
      } else if (phase === 'consistency-check' && sets.masked.includes(index)) {
        const message = slot.signSurvivors(this.server.consistencyCheckRequest(), sets.masked);
        this.signatures.set(index, { set: sets.masked.join(','), signature: message.signature });
        this.server.receiveConsistencySignature(message);
      } else if (phase === 'unmasking' && sets.masked.includes(index)) {
        try {
          this.server.receiveUnmasking(slot.unmask(this.server.unmaskingRequest(), sets.masked));
        } catch {
          // The coordinator's own slots need not be consistent: only the members' answers count.
        }
      }
    }
  }

  /** The round as the attack serves it; a careful liar re-hashes what it changed. */
  private served(honest: Round, member: string): Round {
    const served = this.attack.round?.(honest, member);
    if (served === undefined) return honest;
    return {
      ...served,
      paramsHash: Buffer.from(
        paramsHash(RoundParams.encode(served.params!).finish(), served.graphSeed),
      ),
    };
  }

  /** The round context; with a sparse graph once the members' seed has fixed it. */
  get context(): RoundContext {
    return this.server?.roundContext ?? this.openedContext;
  }

  /** The sum the coordinator computes from the reveals it holds (the round's result). */
  sum(): SecAggResult {
    return this.server.finishUnmasking();
  }

  /** The roster slots the coordinator plays itself. */
  get controlledSlots(): number[] {
    return [...this.slots.keys()];
  }

  /** Sets U1–U3 as the honest server state machine has them. */
  participantSets() {
    return this.server.participantSets();
  }

  get phase(): string {
    return this.server.currentPhase;
  }

  private snapshot(): Round {
    const sets = this.server.participantSets();
    return {
      ...this.round,
      advertised: [...sets.advertised],
      shared: [...sets.shared],
      masked: [...sets.masked],
      signed: [...sets.signed],
      unmasked: [...sets.unmasked],
    };
  }

  /** Closes the current phase when everyone eligible spoke, or after a quiet timeout. */
  private armPhaseTimer(): void {
    clearTimeout(this.phaseTimer);
    this.phaseTimer = setTimeout(() => void this.closePhase(), this.phaseTimeoutMs);
  }

  /** Closes the phase once everyone eligible spoke; otherwise waits a full timeout again. */
  private async afterMessage(): Promise<void> {
    if (this.server.everyoneHasSpoken()) await this.closePhase();
    else this.armPhaseTimer();
  }

  private async closePhase(): Promise<void> {
    clearTimeout(this.phaseTimer);
    const phase = this.server.currentPhase;
    try {
      if (phase === 'advertise-keys') {
        this.server.closeAdvertiseKeys();
        await this.commit('advertised', this.server.participantSets().advertised);
      } else if (phase === 'seed-reveal') {
        this.server.closeSeedReveal();
      } else if (phase === 'share-keys') {
        this.server.closeShareKeys();
        await this.commit('shared', this.server.participantSets().shared);
      } else if (phase === 'masked-input') {
        this.server.closeMaskedInputCollection((sender) => this.uploads.get(sender)!);
        await this.commit('masked', this.server.participantSets().masked);
      } else if (phase === 'consistency-check') {
        this.server.closeConsistencyCheck();
      } else return;
      if (this.server.currentPhase !== phase) this.playSlots();
    } catch {
      // Too few members to go on (some refused): the round stops here.
    }
    for (const wake of [...this.waiters]) wake();
    if (this.server.currentPhase !== 'aborted') this.armPhaseTimer();
  }

  private async commit(phase: RoundPhaseName, honest: readonly number[]): Promise<void> {
    const members = (await this.attack.commit?.(phase, honest)) ?? honest;
    if (this.spec.ledger === false) return;
    await new Ledger(
      this.database.as(this.consortium.local.ledgerWriter('veilsum-coordinator')),
    ).commitRoundPhase(this.round.roundId, phase, [...members]);
  }

  private async reached(phase: string): Promise<void> {
    const done = () =>
      this.server.currentPhase === 'aborted' ||
      ORDER.indexOf(this.server.currentPhase) >= ORDER.indexOf(phase);
    while (!done()) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
      });
    }
    if (this.server.currentPhase === 'aborted')
      throw Object.assign(new Error('round aborted'), { code: grpc.status.ABORTED });
  }

  private servedSurvivors(index: number): number[] {
    const honest = this.server.participantSets().masked;
    return [...(this.attack.survivors?.(index, honest) ?? honest)];
  }

  private servedConvictions(index: number): Conviction[] {
    const honest = this.server.upheldConvictions;
    return [...(this.attack.convictions?.(index, honest) ?? honest)];
  }

  private indexOf(call: Parameters<typeof callerOrganisation>[0]): number {
    const member = callerOrganisation(call);
    return this.round.roster.find((entry) => entry.memberId === member)!.index;
  }

  private secAggService(): grpc.UntypedServiceImplementation {
    type Callback = grpc.sendUnaryData<unknown>;
    const unary = (handle: (call: grpc.ServerUnaryCall<never, unknown>) => unknown) =>
      ((call: grpc.ServerUnaryCall<never, unknown>, callback: Callback) => {
        Promise.resolve()
          .then(() => handle(call))
          .then(
            (value) => callback(null, value),
            (error: { code?: unknown; message: string }) =>
              callback({
                code: typeof error.code === 'number' ? error.code : grpc.status.FAILED_PRECONDITION,
                details: error.message,
              }),
          );
      }) as grpc.UntypedHandleCall;
    return {
      advertiseKeys: unary(async (call) => {
        const message = advertiseKeysFromWire(this.indexOf(call), call.request);
        this.advertisements.set(message.sender, message);
        this.server.receiveAdvertiseKeys(message);
        await this.afterMessage();
        return { roundId: this.round.roundId };
      }),
      awaitSeedCommitments: unary(async (call) => {
        await this.reached('seed-reveal');
        const index = this.indexOf(call);
        const honest = this.server.seedCommitments();
        return seedCommitmentsToWire(this.attack.seedCommitments?.(index, honest) ?? honest);
      }),
      revealSeed: unary(async (call) => {
        this.server.receiveSeedReveal(seedRevealFromWire(this.indexOf(call), call.request));
        await this.afterMessage();
        return { roundId: this.round.roundId };
      }),
      awaitKeys: unary(async (call) => {
        await this.reached('share-keys');
        const index = this.indexOf(call);
        const honest = this.server.keysFor(index);
        return keysBroadcastToWire(this.attack.keys?.(index, honest) ?? honest);
      }),
      shareKeys: unary(async (call) => {
        const message = shareKeysFromWire(this.indexOf(call), call.request);
        this.shareRecipients.set(
          message.sender,
          message.encryptedShares.map((box) => box.peer).sort((a, b) => a - b),
        );
        this.shareMessages.set(message.sender, message);
        this.server.receiveShareKeys(message);
        await this.afterMessage();
        return { roundId: this.round.roundId };
      }),
      awaitShares: unary(async (call) => {
        await this.reached('masked-input');
        const index = this.indexOf(call);
        const honest = this.server.sharesFor(index);
        return sharesDeliveryToWire(this.attack.shares?.(index, honest) ?? honest);
      }),
      uploadMaskedInput: ((
        call: grpc.ServerReadableStream<UploadChunk, unknown>,
        callback: Callback,
      ) => {
        const index = this.indexOf(call);
        const chunks: Buffer[] = [];
        let complaints: ReturnType<typeof complaintsFromWire> = [];
        call.on('data', (chunk: UploadChunk) => {
          if (chunk.content?.$case === 'header')
            complaints = complaintsFromWire(chunk.content.value.complaints);
          else if (chunk.content?.$case === 'data') chunks.push(Buffer.from(chunk.content.value));
        });
        call.on('end', () => {
          for (const complaint of complaints) this.complaints.push({ accuser: index, complaint });
          const bytes = Buffer.concat(chunks);
          const vector = new Uint32Array(
            bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
          );
          try {
            this.server.receiveMaskedInput({ sender: index, maskedInput: vector, complaints });
            this.uploads.set(index, vector);
          } catch (error) {
            callback({ code: grpc.status.FAILED_PRECONDITION, details: (error as Error).message });
            return;
          }
          const sha256 = createHash('sha256').update(bytes).digest();
          callback(null, { roundId: this.round.roundId, words: vector.length, sha256 });
          void this.afterMessage();
        });
      }) as grpc.UntypedHandleCall,
      awaitConsistencyCheck: unary(async (call) => {
        await this.reached('consistency-check');
        const index = this.indexOf(call);
        return consistencyCheckToWire({
          survivors: this.servedSurvivors(index),
          convictions: this.servedConvictions(index),
        });
      }),
      signSurvivors: unary(async (call) => {
        const message = signSurvivorsFromWire(this.indexOf(call), call.request);
        this.signatures.set(message.sender, {
          set: this.servedSurvivors(message.sender).join(','),
          signature: message.signature,
        });
        try {
          this.server.receiveConsistencySignature(message);
        } catch (error) {
          // A signature on a set the server state machine does not hold: kept for that view.
          if (this.attack.survivors === undefined && this.attack.convictions === undefined)
            throw error;
        }
        await this.afterMessage();
        return { roundId: this.round.roundId };
      }),
      awaitUnmasking: unary(async (call) => {
        await this.reached('unmasking');
        const index = this.indexOf(call);
        const honest = this.server.unmaskingRequest();
        const survivors = this.servedSurvivors(index);
        // Each view gets the signatures made on that view.
        const signatures = [...this.signatures]
          .filter(([, signed]) => signed.set === survivors.join(','))
          .map(([sender, { signature }]) => ({ sender, signature }));
        return unmaskingRequestToWire({
          ...honest,
          survivors,
          signatures,
          convictions: this.servedConvictions(index),
        });
      }),
      unmask: unary((call) => {
        const message = unmaskFromWire(this.indexOf(call), call.request);
        this.reveals.push(message);
        try {
          this.server.receiveUnmasking(message);
        } catch {
          // A malicious server keeps what it learnt whether or not its state machine accepts it.
        }
        return { roundId: this.round.roundId };
      }),
    };
  }

  /**
   * Shares of each owner's self-mask seed b and masking key s^SK that the coordinator holds, by
   * share index, from everything members sent it: the Unmasking reveals, and every share box
   * (of every sender, to every recipient) that some byte string members sent in a complaint
   * opens — tried both as the AEAD key itself and as the X25519 secret of its sender's sealing key
   * (Edwards points converted to Montgomery u as well), whatever the complaint claims to prove —
   * and every box a member sent to one of the coordinator's own roster slots (one share of each).
   */
  sharesHeld(): Map<number, { b: Set<number>; s: Set<number> }> {
    const held = new Map<number, { b: Set<number>; s: Set<number> }>();
    const entry = (owner: number) => {
      let shares = held.get(owner);
      if (shares === undefined) held.set(owner, (shares = { b: new Set(), s: new Set() }));
      return shares;
    };
    for (const message of this.reveals) {
      for (const share of message.selfMaskShares) entry(share.owner).b.add(message.sender);
      for (const share of message.maskingKeyShares) entry(share.owner).s.add(message.sender);
    }
    for (const [slot, owners] of this.slotBoxes)
      for (const owner of owners) {
        entry(owner).b.add(slot);
        entry(owner).s.add(slot);
      }
    const candidates = this.complaintSecrets();
    if (candidates.length === 0) return held;
    const { binding } = this.context;
    for (const [sender, message] of this.shareMessages) {
      for (const box of message.encryptedShares) {
        const parties = { binding, sender, recipient: box.peer };
        const associatedData = shareBoxAssociatedData(binding, sender, box.peer);
        const recipientKey = this.advertisements.get(box.peer)?.encryptionPublicKey;
        const sealingKey = this.advertisements.get(sender)?.sealingPublicKey;
        const keys = candidates.flatMap((secret) =>
          sealingKey === undefined || recipientKey === undefined
            ? [secret]
            : [secret, shareBoxKey(parties, secret, sealingKey, recipientKey)],
        );
        for (const key of keys) {
          const plaintext = tryOpen(key, shareBoxSealedPart(box.ciphertext), associatedData);
          if (plaintext === undefined || plaintext.length !== 2 * SHARE_BYTES) continue;
          entry(sender).s.add(box.peer);
          entry(sender).b.add(box.peer);
          break;
        }
      }
    }
    return held;
  }

  /** Every 32-byte string in the complaints members sent, and its Montgomery u if it is a point. */
  private complaintSecrets(): Uint8Array[] {
    const found: Uint8Array[] = [];
    const visit = (value: unknown): void => {
      if (value instanceof Uint8Array) {
        if (value.length !== 32) return;
        found.push(value);
        try {
          found.push(ed25519.utils.toMontgomery(value));
        } catch {
          // not an Edwards point
        }
      } else if (typeof value === 'object' && value !== null) {
        for (const inner of Object.values(value)) visit(inner);
      }
    };
    for (const { complaint } of this.complaints) visit(complaint);
    return found;
  }

  /**
   * Owners whose input the coordinator could now recover: from everything it received (and, with
   * `colluders`, everything those members hold: the boxes sent to them, their pairwise secrets)
   * it holds at least t shares of their self-mask seed b, and can remove every pairwise mask they
   * added — it holds t shares of their masking key s^SK, or for each partner in U2 the pair's
   * secret (revealed with a proof at Unmasking, or a colluder's own), or t shares of the
   * partner's s^SK.
   */
  recoverableOwners(colluders: readonly number[] = []): number[] {
    const t = this.context.config.threshold;
    const held = this.sharesHeld();
    const entry = (owner: number) => {
      let shares = held.get(owner);
      if (shares === undefined) held.set(owner, (shares = { b: new Set(), s: new Set() }));
      return shares;
    };
    const insiders = new Set([...colluders, ...this.slots.keys()]);
    for (const [owner, recipients] of this.shareRecipients)
      for (const recipient of recipients.filter((r) => colluders.includes(r))) {
        entry(owner).b.add(recipient);
        entry(owner).s.add(recipient);
      }
    const pairs = new Set<string>();
    const pair = (a: number, b: number) => `${Math.min(a, b)}:${Math.max(a, b)}`;
    for (const message of this.reveals)
      for (const { peer } of message.pairwiseSecrets ?? []) pairs.add(pair(message.sender, peer));
    const sKnown = (owner: number) => (held.get(owner)?.s.size ?? 0) >= t;
    const masksRemovable = (owner: number) =>
      sKnown(owner) ||
      (this.shareRecipients.get(owner) ?? [])
        .filter((partner) => this.shareMessages.has(partner))
        .every(
          (partner) => insiders.has(partner) || pairs.has(pair(owner, partner)) || sKnown(partner),
        );
    return [...held]
      .filter(([owner, { b }]) => b.size >= t && !insiders.has(owner) && masksRemovable(owner))
      .map(([owner]) => owner)
      .sort((a, b) => a - b);
  }

  /**
   * Owners any of whose both-kind shares reached the coordinator at all (stronger than above),
   * its own slots' boxes included; the owners' own slots are left out.
   */
  ownersWithBothShareKinds(): number[] {
    return [...this.sharesHeld()]
      .filter(([owner, { b, s }]) => b.size > 0 && s.size > 0 && !this.slots.has(owner))
      .map(([owner]) => owner)
      .sort((x, y) => x - y);
  }
}

function tryOpen(
  key: Uint8Array,
  ciphertext: Uint8Array,
  associatedData: Uint8Array,
): Uint8Array | undefined {
  try {
    return openAead(key, ciphertext, associatedData);
  } catch (error) {
    if (error instanceof AuthenticationError) return undefined;
    throw error;
  }
}

/** The certificate and key of an identity: a member, the admin, a keyholder or the coordinator. */
export function identityFiles(consortium: Consortium, id: string): IssuedIdentity {
  const issued =
    id === 'veilsum-coordinator'
      ? consortium.pki.server
      : (consortium.pki.members[id] ?? consortium.pki.keyholders[id]);
  if (issued === undefined) throw new Error(`no certificate for ${id}`);
  return issued;
}

/** An identity's Ed25519 key pair, from its certificate's private key. */
export function memberIdentity(
  consortium: Consortium,
  id: string,
): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const jwk = createPrivateKey(readFileSync(identityFiles(consortium, id).privateKeyPath)).export({
    format: 'jwk',
  });
  const secretKey = new Uint8Array(Buffer.from(jwk.d!, 'base64url'));
  return { secretKey, publicKey: curve.ed25519PublicKey(secretKey) };
}
