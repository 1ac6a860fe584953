import { Command } from 'commander';
import { CLIENT_VERSION } from '../client';

new Command('quarry').description('The Quarry API from the command line').version(CLIENT_VERSION).parse();
