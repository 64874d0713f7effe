import SEAL from 'node-seal';
import { nttTables } from '../../crypto/ckks/ntt.ts';
import type { RnsContext } from '../../crypto/ckks/threshold-decryption.ts';

/**
 * One small CKKS setting shared by the CKKS tests (N = 4096, primes of 40, 30 and 30 bits — a
 * correctness setting, not a security one): the SEAL objects plus the RNS view of its data level
 * (every prime but the special one) and of its key level (all primes).
 */
export const DEGREE = 4096;

export async function sealFixture() {
  const seal = await SEAL();
  const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
  parms.setPolyModulusDegree(DEGREE);
  parms.setCoeffModulus(seal.CoeffModulus.Create(DEGREE, Int32Array.from([40, 30, 30])));
  const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
  const keygen = new seal.KeyGenerator(context);
  const secretKey = keygen.secretKey();
  const rnsOf = (moduli: bigint[]): RnsContext => ({
    degree: DEGREE,
    moduli,
    tables: moduli.map((q) => nttTables(DEGREE, q)),
  });
  const dataModuli = seal.jsArrayFromVecModulus(
    context.firstContextData().parms().coeffModulus(),
  ) as bigint[];
  const keyModuli = seal.jsArrayFromVecModulus(
    context.keyContextData().parms().coeffModulus(),
  ) as bigint[];
  return {
    seal,
    context,
    keygen,
    secretKey,
    encoder: new seal.CKKSEncoder(context),
    encryptor: new seal.Encryptor(context, keygen.createPublicKey()),
    decryptor: new seal.Decryptor(context, secretKey),
    NONE: seal.ComprModeType.none,
    dataRns: rnsOf(dataModuli),
    keyRns: rnsOf(keyModuli),
  };
}
