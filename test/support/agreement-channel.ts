import { Ledger } from '../../ledger/ledger.ts';

/**
 * A member's view of the ledger as an agreement channel — what its own Fabric peer gives it (one
 * value per phase, nobody can fork it): members refuse sparse rounds on an embedded view, so a
 * test of a sparse round's defaults over the embedded ledger stands in for Fabric with this.
 */
export function asAgreementChannel(ledger: Ledger): Ledger {
  const gateway = (ledger as unknown as { gateway: object }).gateway;
  return new Ledger(
    new Proxy(gateway, {
      get: (target, property) => {
        if (property === 'agreementChannel') return true;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    }) as ConstructorParameters<typeof Ledger>[0],
  );
}
