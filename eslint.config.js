import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'dist/**', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The web dashboard keeps no secret in the browser (SPEC §8): the session is an HttpOnly
    // cookie, so browser storage and script-readable cookies are off limits.
    files: ['dashboard/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'localStorage', message: 'no browser storage in the dashboard' },
        { name: 'sessionStorage', message: 'no browser storage in the dashboard' },
        { name: 'indexedDB', message: 'no browser storage in the dashboard' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'window', property: 'localStorage', message: 'no browser storage' },
        { object: 'window', property: 'sessionStorage', message: 'no browser storage' },
        { object: 'window', property: 'indexedDB', message: 'no browser storage' },
        { object: 'document', property: 'cookie', message: 'the session cookie is HttpOnly' },
      ],
    },
  },
);
