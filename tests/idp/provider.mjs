// A real OpenID provider for m2m-auth's JWT tests: oidc-provider with the
// client-credentials grant and JWT access tokens.
//
//   node provider.mjs <port>
//
// Listens on 127.0.0.1:<port>, issuer http://127.0.0.1:<port>. Signing keys
// (RSA-2048, EC P-256) are made fresh at every start, so a restart rotates
// them. Prints `ready <issuer>` on stdout when it serves.
//
// Client `billing-service` / `billing-secret` (HTTP Basic) may ask for
// these resources (RFC 8707), each an audience with its own algorithm:
//   https://api.test/rs256  RS256 (the default resource)
//   https://api.test/es256  ES256
//   https://api.test/short  RS256, tokens live 1 s
//   https://other.test      RS256, another API
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node provider.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

function jwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: randomUUID() };
}

const resources = {
  'https://api.test/rs256': { alg: 'RS256' },
  'https://api.test/es256': { alg: 'ES256' },
  'https://api.test/short': { alg: 'RS256', ttl: 1 },
  'https://other.test': { alg: 'RS256' },
};
const scope = 'invoices:read invoices:write';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'billing-service',
      client_secret: 'billing-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, 'RS256'),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
    ],
  },
  scopes: scope.split(' '),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.test/rs256',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const r = resources[resource];
        if (!r) throw new errors.InvalidTarget();
        return {
          audience: resource,
          scope,
          accessTokenTTL: r.ttl ?? 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: r.alg } },
        };
      },
    },
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
