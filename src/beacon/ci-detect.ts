/**
 * True when a CI environment is detected, so funders' reports can separate people from robots.
 * Only the presence of well-known variables is checked; none of their values is sent.
 */
const CI_VARIABLES = [
  'GITHUB_ACTIONS',
  'GITLAB_CI',
  'CIRCLECI',
  'TRAVIS',
  'BUILDKITE',
  'JENKINS_URL',
  'TF_BUILD',
  'BITBUCKET_BUILD_NUMBER',
  'TEAMCITY_VERSION',
  'CODEBUILD_BUILD_ID',
  'APPVEYOR',
  'DRONE',
  'SEMAPHORE',
  'CI_NAME',
  'WOODPECKER',
];

export function detectCi(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI;
  if (ci !== undefined && ci !== '' && !/^(false|0)$/i.test(ci)) return true;
  return CI_VARIABLES.some((name) => env[name] !== undefined && env[name] !== '');
}
