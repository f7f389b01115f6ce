// How a TokenReview's answer becomes an identity, rule by rule as istiod's `getTokenReviewResult`
// (security/pkg/k8s/tokenreview/k8sauthn.go). Reviews by a real API server: libs/e2e-tests token-review.test.ts.
import type { V1TokenReview } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { serviceAccountOfReview } from './kubernetes-token-review.js';

function review(status: NonNullable<V1TokenReview['status']>): V1TokenReview {
  return { spec: { token: 'x' }, status };
}

const SERVICE_ACCOUNT_USER = { username: 'system:serviceaccount:shop:vm', groups: ['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated'] };

describe('serviceAccountOfReview', () => {
  it("reads the namespace and service account of an authenticated service account's review", () => {
    expect(serviceAccountOfReview(review({ authenticated: true, user: SERVICE_ACCOUNT_USER }))).toEqual({ namespace: 'shop', serviceAccount: 'vm' });
  });

  it.each([
    ['an error', { authenticated: false, error: '[invalid bearer token, token audiences ["api"] is invalid for the target audiences ["istio-ca"]]' }, 'the service account authentication returns an error: [invalid bearer token'],
    ['an unauthenticated token', { authenticated: false }, 'the token is not authenticated'],
    ['a user that is not a service account', { authenticated: true, user: { username: 'admin', groups: ['system:masters', 'system:authenticated'] } }, 'the token is not a service account'],
    ['a malformed user name', { authenticated: true, user: { username: 'system:serviceaccount:shop', groups: ['system:serviceaccounts'] } }, 'invalid username field in the token review result'],
    ['an empty service account', { authenticated: true, user: { username: 'system:serviceaccount:shop:', groups: ['system:serviceaccounts'] } }, 'service account required'],
    ['an empty namespace', { authenticated: true, user: { username: 'system:serviceaccount::vm', groups: ['system:serviceaccounts'] } }, 'namespace required'],
  ])('refuses %s', (_name, status, message) => {
    expect(() => serviceAccountOfReview(review(status))).toThrow(message);
  });
});
