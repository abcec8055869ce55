import { describe, expect, it } from 'vitest';
import { awsEncode, signV4, toAmzDate } from './aws-sigv4.ts';

// Vectors from the AWS SigV4 test suite (get-vanilla, get-vanilla-query-order-key-case).
const EXAMPLE = {
  region: 'us-east-1',
  service: 'service',
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  amzDate: '20150830T123600Z',
  body: '',
  method: 'GET',
  headers: { Host: 'example.amazonaws.com', 'X-Amz-Date': '20150830T123600Z' },
};

describe('signV4', () => {
  it('matches the published get-vanilla signature', () => {
    expect(signV4({ ...EXAMPLE, url: new URL('https://example.amazonaws.com/') })).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it('sorts the query before signing (get-vanilla-query-order-key-case)', () => {
    const auth = signV4({
      ...EXAMPLE,
      url: new URL('https://example.amazonaws.com/?Param2=value2&Param1=value1'),
    });
    expect(auth).toMatch(
      /Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$/,
    );
  });

  it('changes with the body, the secret and the time', () => {
    const url = new URL('https://sts.amazonaws.com/');
    const base = signV4({ ...EXAMPLE, url, body: 'Action=GetCallerIdentity' });
    expect(signV4({ ...EXAMPLE, url, body: 'Action=GetCallerIdentitx' })).not.toBe(base);
    expect(
      signV4({ ...EXAMPLE, url, body: 'Action=GetCallerIdentity', secretAccessKey: 'x' }),
    ).not.toBe(base);
    expect(
      signV4({ ...EXAMPLE, url, body: 'Action=GetCallerIdentity', amzDate: '20150830T123601Z' }),
    ).not.toBe(base);
  });
});

describe('helpers', () => {
  it('encodes as RFC 3986', () => {
    expect(awsEncode("a b!'()*~")).toBe('a%20b%21%27%28%29%2A~');
  });
  it('formats amz dates', () => {
    expect(toAmzDate(new Date('2015-08-30T12:36:00.123Z'))).toBe('20150830T123600Z');
  });
});
