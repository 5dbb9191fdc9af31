import { resolveReferTarget } from '../../../src/features/actions/destinations';

const transfer = {
  destinations: { sales: '+14155550101', 'front desk': 'sip:desk@pbx.example.com;transport=tls' },
  allowlist: ['+14155550102', '+1646*'],
};

describe('resolveReferTarget (a SIP REFER\'s ReferTransferTarget)', () => {
  it.each([
    ['<tel:+14155550102>', '+14155550102', 'number'],
    ['tel:+16465550100', '+16465550100', 'number'],
    ['tel:+16465550100;phone-context=example.com', '+16465550100', 'number'],
    ['<tel:+14155550101>', '+14155550101', 'number'],
    ['<sip:+16465550100@sip.example.com?X-Call=1&User-to-User=abc>', '+16465550100', 'number'],
    ['<sip:desk@pbx.example.com?X-Transfer=1>', 'sip:desk@pbx.example.com;transport=tls', 'sip'],
    ['SIP:DESK@PBX.EXAMPLE.COM', 'sip:desk@pbx.example.com;transport=tls', 'sip'],
  ])('when the target is %s, then it resolves to %s', (raw, target, kind) => {
    expect(resolveReferTarget(raw, transfer)).toMatchObject({ ok: true, target, kind });
  });

  it('names a configured destination by its name', () => {
    expect(resolveReferTarget('<tel:+14155550101>', transfer)).toMatchObject({ label: 'sales' });
  });

  it.each([
    ['a number not on the allowlist', '<tel:+19005550199>'],
    ['a prefix-matching number of the wrong length', 'tel:+1646555010'],
    ['a SIP URI not configured', '<sip:attacker@evil.example.com>'],
    ['a SIP URI of a configured user on another host', 'sip:desk@evil.example.com'],
    ['a destination name, which REFER cannot carry', 'sales'],
    ['nothing', ''],
    ['headers only', '<?X-Foo=bar>'],
  ])('when the target is %s, then it is refused', (_what, raw) => {
    expect(resolveReferTarget(raw, transfer)).toEqual({ ok: false });
  });
});
